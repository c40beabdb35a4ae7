"""Typed records, one class per stored format of the original tools (FORMATS.md).

Invariants:
- every example the original tools wrote reads as it is: unknown keys are kept in `extra` and
  written back; the legacy claim key `claimed` is accepted for `claimed_at`;
- writes use the original shapes (sorted keys, `%Y-%m-%dT%H:%M:%SZ`), plus our optional fields
  (`lease_expires_at`, `fencing_token`, `prev_hash`, ...), omitted when unset;
- `canonical()` is the one byte form that hashes are taken over: sorted keys, compact, UTF-8
  (the standard library's encoder, so the form never depends on an optional fast path).

The typed classes (msgspec Structs) live in `repobus.records.types`, imported only where
they are used: the commands that only move records (claim, log, status) never import msgspec.
"""

from __future__ import annotations

import json

from repobus.errors import CorruptError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

FORMAT_VERSION = 1

CLAIM_STATUSES = ("active", "paused", "released", "done")
TERMINAL_STATUSES = frozenset({"done", "released", "closed", "cancelled", "abandoned"})
SEVERITIES = ("low", "medium", "high")
# Events the original claim guard checked (FORMATS §10); messages likewise (§3).
GUARDED_EVENTS = frozenset({"status", "complete", "proposal", "pr_opened", "audit", "release"})
GUARDED_MESSAGE_TYPES = frozenset({"status", "note", "request", "summary", "consensus", "proposal"})

_canon = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical(data: dict[str, Any]) -> bytes:
    return _canon.encode(data).encode("utf-8")


def record_hash(data: dict[str, Any]) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(canonical(data)).hexdigest()


def next_seq(prev: dict[str, Any] | None, fallback: int = 0) -> int:
    """The `seq` of the record after `prev`.  A damaged `seq` (not an integer) is treated as
    `fallback`: the write goes on, and `verify` names the damaged record."""
    if prev is None:
        return 1
    seq = prev.get("seq")
    ok = isinstance(seq, int) and not isinstance(seq, bool)
    return (seq if ok else fallback) + 1  # type: ignore[operator]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str, where: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8
        raise CorruptError(f"Invalid JSON in {where}: {exc}") from None


def bulk_loads() -> Callable[[bytes | str, str], Any]:
    """`loads` for reading many records at once (an index built from scratch): msgspec's
    parser, about 5x faster, imported only then (its import costs more than a small read
    saves); what it refuses, `loads` decides (the standard parser takes a few texts msgspec
    does not, such as a lone surrogate escape), so every result is the one `loads` gives."""
    import msgspec

    decode = msgspec.json.Decoder().decode

    def load(raw: bytes | str, where: str) -> Any:
        try:
            return decode(raw)
        except msgspec.DecodeError:
            return loads(raw, where)

    return load


def doc_text(data: dict[str, Any]) -> str:
    """A JSON document as the original tools wrote it: indent 2, sorted keys, newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_line(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False) + "\n"


def message_line(data: dict[str, Any]) -> str:
    """Messages keep the original insertion order (ts, from, type, task_id, summary, ...)."""
    order = ["ts", "from", "type", "task_id", "summary", "branch", "meta", "receipts", "note", "to"]
    ordered = {k: data[k] for k in order if k in data}
    ordered.update((k, v) for k, v in sorted(data.items()) if k not in ordered)
    return json.dumps(ordered, ensure_ascii=False) + "\n"


CORE_EVENT_KEYS = frozenset(
    {
        "ts",
        "agent_id",
        "event",
        "summary",
        "task_id",
        "plan_id",
        "branch",
        "pr",
        "receipts",
        "severity",
        "fencing_token",
        "holder",
        "seq",
        "prev_hash",
    }
)
