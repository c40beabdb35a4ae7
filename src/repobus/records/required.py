"""The fields each kind of record must carry, and the type of each field it may carry: one
table, read by every door that checks one, and the two checks every store makes with it.

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
  empty, when it is not a string with something besides blanks in it;
- `FIELDS` types every known field; unknown keys are kept and never checked, so a record the
  original tools wrote reads as it is, and a check never changes the record it is given;
- on write (`on_write`) a record lacking a field or holding a wrongly typed one is refused
  (UsageError) before anything is written; on read (`on_read`) a wrongly typed field is a
  CorruptError naming where the record is.  A read does not refuse a record for lacking a
  field: the original tools wrote such records (assignments without `engineer`, claims
  without `claimed_at`), and those are named by `check` and by the bus before it decides.
"""

from __future__ import annotations

from repobus.errors import CorruptError, UsageError

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
# The type of every field a record is known to carry, by the name it has on disk.  The
# Structs and the TypedDicts of types.py declare the same (a test holds the three equal);
# this copy is the one the stores check with, as it needs neither msgspec nor typing.
# "str": a string; "?" also null; "int": a whole number (not a boolean); "[str]": a list of
# strings; "{}": an object.  Keys not named here are kept as they are, unchecked.
FIELDS: dict[str, dict[str, str]] = {
    "manifest": {
        "agent_id": "str",
        "owner": "str?",
        "agent_type": "str?",
        "capabilities": "[str]?",
        "desired_roles": "[str]?",
        "max_prs_per_day": "int?",
        "branch_prefix": "str?",
        "contact": "str?",
        "notes": "str?",
    },
    "claim": {
        "task_id": "str",
        "agent_id": "str",
        "branch": "str",
        "status": "str",
        "claimed_at": "str",
        "plan_id": "str?",
        "notes": "str?",
        "released_at": "str?",
        "lease_expires_at": "str?",
        "fencing_token": "int?",
        "op": "str?",
        "by": "str?",
        "previous_holder": "str?",
        "force_reason": "str?",
        "updated_at": "str?",
        "seq": "int?",
        "prev_hash": "str?",
    },
    "assignment": {
        "task_id": "str",
        "engineer": "str",
        "manager": "str",
        "assigned_at": "str",
        "plan_id": "str?",
        "branch": "str?",
        "note": "str?",
        "seq": "int?",
        "prev_hash": "str?",
    },
    "event": {
        "ts": "str",
        "agent_id": "str",
        "event": "str",
        "summary": "str",
        "task_id": "str?",
        "plan_id": "str?",
        "branch": "str?",
        "pr": "str?",
        "receipts": "[str]?",
        "severity": "str?",
        "fencing_token": "int?",
        "holder": "str?",
        "seq": "int?",
        "prev_hash": "str?",
    },
    "message": {
        "ts": "str",
        "from": "str",
        "type": "str",
        "task_id": "str",
        "summary": "str",
        "branch": "str?",
        "meta": "{}?",
        "receipts": "[str]?",
        "note": "str?",
        "to": "str?",
        "seq": "int?",
        "prev_hash": "str?",
    },
}
_JSON_TYPES = {"str": str, "int": int, "[str]": list, "{}": dict}
_SAYS = {
    "str": "a string",
    "int": "a whole number",
    "[str]": "a list of strings",
    "{}": "an object",
}
# {record: {field: the Python types json.loads gives for an allowed value}}: one set lookup
# per key is what a read costs (measured well under a microsecond per record).
_ACCEPTS: dict[str, dict[str, frozenset[type]]] = {
    name: {
        f: frozenset({_JSON_TYPES[t.rstrip("?")]} | ({type(None)} if t.endswith("?") else set()))
        for f, t in fields.items()
    }
    for name, fields in FIELDS.items()
}
_ANY = frozenset({str, int, float, bool, list, dict, type(None)})  # an unknown key
_LISTS = {
    name: tuple(f for f, t in fields.items() if t.startswith("["))
    for name, fields in FIELDS.items()
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


def wrong_type(record: str, rec: Mapping[str, Any]) -> str | None:
    """The first key of `rec` whose value is not of its field's type (a legacy spelling is
    judged as its field); None when every known field is well typed."""
    accepts = _ACCEPTS[record]
    get = accepts.get
    for key, v in rec.items():
        if type(v) not in get(key, _ANY):  # json gives exact types; bool is not int
            return key
    for key in _LISTS[record]:
        v = rec.get(key)
        if v and any(type(x) is not str for x in v):
            return key
    for field, old in LEGACY.get(record, {}).items():
        if field not in rec and old in rec and type(rec[old]) not in accepts[field]:
            return old
    return None


def expected(record: str, key: str) -> str:
    """What `key` of a `record` must hold, in words."""
    spelled = {old: f for f, old in LEGACY.get(record, {}).items()}
    kind = FIELDS[record].get(spelled.get(key, key))
    if kind is None:  # a key of its own: any JSON value
        return "a JSON value"
    return _SAYS[kind.rstrip("?")] + (" or null" if kind.endswith("?") else "")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def on_read(record: str, rec: dict[str, Any], where: str) -> dict[str, Any]:
    """`rec` as read from `where`, unchanged, once its known fields have their types."""
    bad = wrong_type(record, rec)
    if bad is not None:
        raise CorruptError(
            f"{record.capitalize()} {where} holds a damaged {bad} {_shown(rec[bad])}: "
            f"expected {expected(record, bad)}",
            hint="repobus writes only typed records, so this one was changed afterwards: run "
            "`repobus verify`, then restore it from its history",
        )
    return rec


def on_write(record: str, rec: Mapping[str, Any], where: str) -> None:
    """Refuse `rec`, to be written at `where`, when it lacks a field or holds a wrong type."""
    lacking = missing(record, rec)
    bad = None if lacking else wrong_type(record, rec)
    if lacking:
        why = refusal(record, where, lacking[0])
    elif bad is not None:
        why = (
            f"{record.capitalize()} {where}: field '{bad}' must be {expected(record, bad)}, "
            f"got {_shown(rec[bad])}"
        )
    else:
        return
    raise UsageError(
        why,
        hint="nothing was written; give the record every field records/required.py names, "
        "each of its type (repobus's own commands always do: if one got here, it is a bug - "
        "please report it)",
    )
