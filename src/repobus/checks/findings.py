"""A doctor finding: `{"check", "level", "detail"}`, level ok, warning or problem."""

from __future__ import annotations


def finding(check: str, level: str, detail: str) -> dict[str, str]:
    return {"check": check, "level": level, "detail": detail}
