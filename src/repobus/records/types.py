"""Typed records, one msgspec Struct per stored format of the original tools (FORMATS.md),
and their JSON Schemas.  Reached through `repobus.models` (loaded on first use).

Invariants: every example the original tools wrote reads as it is (unknown keys kept in
`extra` and written back; legacy `claimed` accepted for `claimed_at`); a validation error
names the field.  Which fields a record must carry is `records/required.py`: each Struct's
`REQUIRED` is its row, and its fields without a default are exactly those (a test holds them
together).

Each record has two typed forms: the Struct (`Claim`, ...: `repobus schema`, `from_dict`) and
the dict form the bus builds and the stores keep (`ClaimRecord`, ...: TypedDicts, imported by
the bus for mypy only, so a write names its fields as they are declared).  The stores check
records with `required.FIELDS`, which needs neither msgspec nor typing; a test holds the
Structs, the TypedDicts and that table equal.
"""

from __future__ import annotations

from typing import Any, ClassVar, NotRequired, TypedDict

import msgspec

from repobus.errors import CorruptError
from repobus.records import required
from repobus.records.models import FORMAT_VERSION


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every record: known fields typed, unknown ones kept in `extra`."""

    extra: dict[str, Any] = msgspec.field(default_factory=dict)

    NAME: ClassVar[str] = ""
    REQUIRED: ClassVar[tuple[str, ...]] = ()
    KEEP_NULL: ClassVar[tuple[str, ...]] = ()
    RENAMES: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_dict(cls, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise CorruptError(f"{where}: expected a JSON object, got {type(data).__name__}")
        data = cls.upgrade(dict(data))
        lacking = required.missing(cls.NAME, data)
        if lacking:
            raise CorruptError(required.refusal(cls.NAME, where, lacking[0]))
        fields = {f for f in cls.__struct_fields__ if f != "extra"}
        wire = {cls.RENAMES.get(f, f): f for f in fields}
        known = {wire[k]: v for k, v in data.items() if k in wire}
        extra = {k: v for k, v in data.items() if k not in wire}
        try:
            return msgspec.convert({**known, "extra": extra}, cls)
        except msgspec.ValidationError as exc:
            raise CorruptError(f"{cls.NAME.capitalize()} {where}: {exc}") from None

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Older spellings of a field (required.LEGACY), read as the field."""
        for field, old in required.LEGACY.get(cls.NAME, {}).items():
            if field not in data and old in data:
                data[field] = data.pop(old)
        return data

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.extra)
        for name in self.__struct_fields__:
            if name == "extra":
                continue
            value = getattr(self, name)
            if value is not None or name in self.KEEP_NULL:
                out[self.RENAMES.get(name, name)] = value
        return out


class Manifest(Record):
    NAME: ClassVar[str] = "manifest"
    REQUIRED: ClassVar[tuple[str, ...]] = required.REQUIRED["manifest"]
    agent_id: str
    owner: str | None = None
    agent_type: str | None = None
    capabilities: list[str] | None = None
    desired_roles: list[str] | None = None
    max_prs_per_day: int | None = None
    branch_prefix: str | None = None
    contact: str | None = None
    notes: str | None = None


class Claim(Record):
    NAME: ClassVar[str] = "claim"
    REQUIRED: ClassVar[tuple[str, ...]] = required.REQUIRED["claim"]
    task_id: str
    agent_id: str
    branch: str
    status: str
    claimed_at: str
    plan_id: str | None = None
    notes: str | None = None
    released_at: str | None = None
    # repobus additions
    lease_expires_at: str | None = None
    fencing_token: int | None = None
    op: str | None = None
    by: str | None = None
    previous_holder: str | None = None
    force_reason: str | None = None
    updated_at: str | None = None
    seq: int | None = None
    prev_hash: str | None = None


class Assignment(Record):
    NAME: ClassVar[str] = "assignment"
    REQUIRED: ClassVar[tuple[str, ...]] = required.REQUIRED["assignment"]
    KEEP_NULL: ClassVar[tuple[str, ...]] = ("plan_id", "branch", "note")
    task_id: str
    engineer: str
    manager: str
    assigned_at: str
    plan_id: str | None = None
    branch: str | None = None
    note: str | None = None
    seq: int | None = None
    prev_hash: str | None = None


class Event(Record):
    NAME: ClassVar[str] = "event"
    REQUIRED: ClassVar[tuple[str, ...]] = required.REQUIRED["event"]
    ts: str
    agent_id: str
    event: str
    summary: str
    task_id: str | None = None
    plan_id: str | None = None
    branch: str | None = None
    pr: str | None = None
    receipts: list[str] | None = None
    severity: str | None = None
    fencing_token: int | None = None
    holder: str | None = None
    seq: int | None = None
    prev_hash: str | None = None


class Message(Record):
    NAME: ClassVar[str] = "message"
    REQUIRED: ClassVar[tuple[str, ...]] = required.REQUIRED["message"]
    RENAMES: ClassVar[dict[str, str]] = {"sender": "from"}
    ts: str
    sender: str
    type: str
    task_id: str
    summary: str
    branch: str | None = None
    meta: dict[str, Any] | None = None
    receipts: list[str] | None = None
    note: str | None = None
    to: str | None = None
    seq: int | None = None
    prev_hash: str | None = None


class ManifestRecord(TypedDict):
    agent_id: str
    owner: NotRequired[str | None]
    agent_type: NotRequired[str | None]
    capabilities: NotRequired[list[str] | None]
    desired_roles: NotRequired[list[str] | None]
    max_prs_per_day: NotRequired[int | None]
    branch_prefix: NotRequired[str | None]
    contact: NotRequired[str | None]
    notes: NotRequired[str | None]


class ClaimRecord(TypedDict):
    task_id: str
    agent_id: str
    branch: str
    status: str
    claimed_at: str
    plan_id: NotRequired[str | None]
    notes: NotRequired[str | None]
    released_at: NotRequired[str | None]
    lease_expires_at: NotRequired[str | None]
    fencing_token: NotRequired[int | None]
    op: NotRequired[str | None]
    by: NotRequired[str | None]
    previous_holder: NotRequired[str | None]
    force_reason: NotRequired[str | None]
    updated_at: NotRequired[str | None]
    seq: NotRequired[int | None]
    prev_hash: NotRequired[str | None]


class AssignmentRecord(TypedDict):
    task_id: str
    engineer: str
    manager: str
    assigned_at: str
    plan_id: NotRequired[str | None]
    branch: NotRequired[str | None]
    note: NotRequired[str | None]
    seq: NotRequired[int | None]
    prev_hash: NotRequired[str | None]


class EventRecord(TypedDict):
    ts: str
    agent_id: str
    event: str
    summary: str
    task_id: NotRequired[str | None]
    plan_id: NotRequired[str | None]
    branch: NotRequired[str | None]
    pr: NotRequired[str | None]
    receipts: NotRequired[list[str] | None]
    severity: NotRequired[str | None]
    fencing_token: NotRequired[int | None]
    holder: NotRequired[str | None]
    seq: NotRequired[int | None]
    prev_hash: NotRequired[str | None]


# `from` is a keyword: the functional form
MessageRecord = TypedDict(
    "MessageRecord",
    {
        "ts": str,
        "from": str,
        "type": str,
        "task_id": str,
        "summary": str,
        "branch": NotRequired[str | None],
        "meta": NotRequired[dict[str, Any] | None],
        "receipts": NotRequired[list[str] | None],
        "note": NotRequired[str | None],
        "to": NotRequired[str | None],
        "seq": NotRequired[int | None],
        "prev_hash": NotRequired[str | None],
    },
)

RECORDS: dict[str, type[Record]] = {
    c.NAME: c for c in (Manifest, Claim, Assignment, Event, Message)
}
# The dict form of each record (what the stores hold), by record name.
DICTS: dict[str, Any] = {
    "manifest": ManifestRecord,
    "claim": ClaimRecord,
    "assignment": AssignmentRecord,
    "event": EventRecord,
    "message": MessageRecord,
}


def schema(name: str) -> dict[str, Any]:
    """JSON Schema of one record; unknown keys are allowed, as readers keep them."""
    cls = RECORDS[name]
    full = msgspec.json.schema(cls)
    defs = full.get("$defs", {})
    body = dict(defs.get(cls.__name__, full))
    props = {
        cls.RENAMES.get(k, k): v for k, v in body.get("properties", {}).items() if k != "extra"
    }
    needed = [cls.RENAMES.get(k, k) for k in body.get("required", []) if k != "extra"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"repobus {name} (format {FORMAT_VERSION})",
        "type": "object",
        "properties": props,
        "required": sorted(set(needed) | set(cls.REQUIRED)),
        "additionalProperties": True,
    }
