"""What every original tool's parser shares: argparse as the original (usage errors exit 2),
the session options, the options every repobus command takes, and the refusal the originals
raised as SystemExit(message)."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Plan = list[tuple[str, dict[str, Any]]]


def parser(tool: str, desc: str = "") -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=f"python -m tools.agent.{tool}", description=desc)


def session_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-stale-session", action="store_true")
    p.add_argument("--session-max-age", type=int)


def common(a: argparse.Namespace) -> dict[str, Any]:
    out = {
        "allow_stale_session": getattr(a, "allow_stale_session", False),
        "session_max_age": getattr(a, "session_max_age", None),
    }
    if getattr(a, "agent", None) is not None:
        out["agent"] = a.agent
    return out


class Refusal(Exception):
    """A validation the original raised as SystemExit(message): exit 1, nothing written."""
