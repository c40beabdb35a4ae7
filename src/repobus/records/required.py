"""The fields each kind of record must carry: one table, read by every door that checks one.

The typed records (`types.py`) take their `REQUIRED` from it, `repobus check` walks it
(`checks/check.py`), the bus names a claim lacking one of its fields before deciding anything
(`bus/core.py`), and the dir backend refuses to write a record lacking one
(`store/dirstore.py`).  No msgspec here: the commands that only move records read it too.

Invariants (FORMATS.md):
- claim: the five fields the original bus_claim required ("Claim <path> missing field '<f>'");
  the legacy key `claimed` stands in for `claimed_at`;
- assignment, message: the non-empty strings the original CI checker required;
- event: bus_event's REQUIRED_FIELDS; `event` and `summary` need only be present (the CI
  checker allowed either to be empty), `ts` and `agent_id` must be non-empty;
- manifest: `agent_id`, the one field every tool reads;
- every required field is a string: a field is missing when absent, or, unless it may be
  empty, when it is not a string with something besides blanks in it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

REQUIRED: dict[str, tuple[str, ...]] = {
    "manifest": ("agent_id",),
    "claim": ("task_id", "agent_id", "branch", "status", "claimed_at"),
    "assignment": ("task_id", "engineer", "manager", "assigned_at"),
    "event": ("ts", "agent_id", "event", "summary"),
    "message": ("ts", "from", "type", "task_id", "summary"),
}
# Required, but an empty string is a value (present is enough).
MAY_BE_EMPTY: dict[str, frozenset[str]] = {"event": frozenset({"event", "summary"})}
# Older spellings read in place of a field: {record: {field: legacy key}}.
LEGACY: dict[str, dict[str, str]] = {"claim": {"claimed_at": "claimed"}}
# The record kept by each kind of the store (`_bus/<kind>/`, `refs/repobus/<kind>/`).
RECORD_OF: dict[str, str] = {
    "claims": "claim",
    "assignments": "assignment",
    "events": "event",
    "messages": "message",
}


def value(record: str, rec: Mapping[str, Any], field: str) -> Any:
    """The value of `field`, read through its legacy spelling when the field is absent."""
    if field in rec:
        return rec[field]
    old = LEGACY.get(record, {}).get(field)
    return rec.get(old) if old is not None else None


def is_missing(record: str, rec: Mapping[str, Any], field: str) -> bool:
    legacy = LEGACY.get(record, {}).get(field)
    if field not in rec and (legacy is None or legacy not in rec):
        return True
    if field in MAY_BE_EMPTY.get(record, ()):
        return False
    v = value(record, rec, field)
    return not (isinstance(v, str) and v.strip())


def missing(record: str, rec: Mapping[str, Any]) -> list[str]:
    """The required fields `rec` lacks, in the table's order."""
    return [f for f in REQUIRED[record] if is_missing(record, rec, f)]


def refusal(record: str, where: str, field: str) -> str:
    """The words of a refusal, as the original bus_claim put them."""
    return f"{record.capitalize()} {where} missing field '{field}'"
