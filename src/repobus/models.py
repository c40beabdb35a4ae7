"""Typed records, one class per stored format of the original tools (FORMATS.md).

Invariants:
- every example the original tools wrote reads as it is: unknown keys are kept in `extra` and
  written back; the legacy claim key `claimed` is accepted for `claimed_at`;
- writes use the original shapes (sorted keys, `%Y-%m-%dT%H:%M:%SZ`), plus our optional fields
  (`lease_expires_at`, `fencing_token`, `prev_hash`, ...), omitted when unset;
- `canonical()` is the one byte form that hashes are taken over: sorted keys, compact, UTF-8.
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

import msgspec

from repobus.errors import CorruptError

FORMAT_VERSION = 1

CLAIM_STATUSES = ("active", "paused", "released", "done")
TERMINAL_STATUSES = frozenset({"done", "released", "closed", "cancelled", "abandoned"})
SEVERITIES = ("low", "medium", "high")
# Events the original claim guard checked (FORMATS §10); messages likewise (§3).
GUARDED_EVENTS = frozenset({"status", "complete", "proposal", "pr_opened", "audit", "release"})
GUARDED_MESSAGE_TYPES = frozenset({"status", "note", "request", "summary", "consensus", "proposal"})

_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder()


def canonical(data: dict[str, Any]) -> bytes:
    return _encoder.encode(data)


def record_hash(data: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(data)).hexdigest()


def loads(raw: bytes | str, where: str) -> Any:
    try:
        return _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise CorruptError(f"Invalid JSON in {where}: {exc}") from None


def doc_text(data: dict[str, Any]) -> str:
    """A JSON document as the original tools wrote it: indent 2, sorted keys, newline."""
    import json

    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_line(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n"


def message_line(data: dict[str, Any]) -> str:
    """Messages keep the original insertion order (ts, from, type, task_id, summary, ...)."""
    import json

    order = ["ts", "from", "type", "task_id", "summary", "branch", "meta", "receipts", "note", "to"]
    ordered = {k: data[k] for k in order if k in data}
    ordered.update((k, v) for k, v in sorted(data.items()) if k not in ordered)
    return json.dumps(ordered, ensure_ascii=False) + "\n"


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
        for name in cls.REQUIRED:
            if data.get(name) in (None, ""):
                raise CorruptError(f"{cls.NAME.capitalize()} {where} missing field '{name}'")
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
        """Named upgrades of older shapes, applied on read."""
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
    REQUIRED: ClassVar[tuple[str, ...]] = ("agent_id",)
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
    REQUIRED: ClassVar[tuple[str, ...]] = ("task_id", "agent_id", "branch", "status", "claimed_at")
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
    updated_at: str | None = None
    seq: int | None = None
    prev_hash: str | None = None

    @classmethod
    def upgrade(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "claimed_at" not in data and "claimed" in data:
            data["claimed_at"] = data.pop("claimed")
        return data


class Assignment(Record):
    NAME: ClassVar[str] = "assignment"
    REQUIRED: ClassVar[tuple[str, ...]] = ("task_id", "engineer", "manager", "assigned_at")
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
    REQUIRED: ClassVar[tuple[str, ...]] = ("ts", "agent_id", "event")
    ts: str
    agent_id: str
    event: str
    summary: str = ""
    task_id: str | None = None
    plan_id: str | None = None
    branch: str | None = None
    pr: str | None = None
    receipts: list[str] | None = None
    severity: str | None = None
    fencing_token: int | None = None
    seq: int | None = None
    prev_hash: str | None = None


class Message(Record):
    NAME: ClassVar[str] = "message"
    REQUIRED: ClassVar[tuple[str, ...]] = ("ts", "from", "type", "task_id", "summary")
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


RECORDS: dict[str, type[Record]] = {
    c.NAME: c for c in (Manifest, Claim, Assignment, Event, Message)
}

CORE_EVENT_KEYS = frozenset(
    {"ts", "agent_id", "event", "summary", "task_id", "plan_id", "branch", "pr", "receipts",
     "severity", "fencing_token", "seq", "prev_hash"}
)


def schema(name: str) -> dict[str, Any]:
    """JSON Schema of one record; unknown keys are allowed, as readers keep them."""
    cls = RECORDS[name]
    full = msgspec.json.schema(cls)
    defs = full.get("$defs", {})
    body = dict(defs.get(cls.__name__, full))
    props = {cls.RENAMES.get(k, k): v for k, v in body.get("properties", {}).items() if k != "extra"}
    required = [cls.RENAMES.get(k, k) for k in body.get("required", []) if k != "extra"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"repobus {name} (format {FORMAT_VERSION})",
        "type": "object",
        "properties": props,
        "required": sorted(set(required) | set(cls.REQUIRED)),
        "additionalProperties": True,
    }
