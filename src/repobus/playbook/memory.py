"""`memory/log.jsonl`: human approvals tied to bus receipts (playbook: "Reference
`_bus/events/…` receipts in memory/log.jsonl entries").

A reference is one of:
  _bus/claims/<T>.json, _bus/assignments/<T>.json   a claim / assignment of the bus
  _bus/messages/<T>.jsonl                           a message thread that has messages
  _bus/events/events.jsonl#sha256:<hex>             one event, by its record hash (>= 12 hex)
  _bus/events/events.jsonl                          the event log (non-empty)
  any other relative path                           a file of the worktree (e.g. _report/...)
Every reference is resolved before the entry is written, and `check` re-resolves them all,
so an edited or dropped event, or a deleted receipt, is reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from repobus.bus import Bus
from repobus.errors import CorruptError, NotFoundError, UsageError
from repobus.records import layout, models, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

LOG = "memory/log.jsonl"
EVENT_REF = layout.bus_path(layout.EVENTS_LOG)
_HASH = re.compile(r"sha256:([0-9a-f]{12,64})\Z")


class Resolver:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._hashes: list[str] | None = None
        self._threads: set[str] | None = None

    def hashes(self) -> list[str]:
        if self._hashes is None:
            self._hashes = [models.record_hash(e.record) for e in self.bus.store.tail("events")]
        return self._hashes

    def threads(self) -> set[str]:
        if self._threads is None:
            self._threads = set()
            for e in self.bus.store.tail("messages"):
                self._threads.add(str(e.record.get("task_id")))
                if e.record.get("to"):
                    self._threads.add(layout.inbox_lane(str(e.record["to"])))
        return self._threads

    def why_not(self, ref: str) -> str | None:
        """None when `ref` resolves; else what is wrong with it."""
        root = self.bus.repo.root
        path, _, frag = ref.partition("#")
        if path == EVENT_REF:
            if not frag:
                return None if self.hashes() else "the event log is empty"
            m = _HASH.match(frag)
            if m is None:
                return "an event reference is events.jsonl#sha256:<hash>"
            return (
                None
                if any(h[7:].startswith(m.group(1)) for h in self.hashes())
                else "no event has that hash"
            )
        at = layout.place_of(path)
        if at is not None and at.kind in layout.SLOT_KINDS:
            found = self.bus.store.get(at.kind, at.key)
            return None if found else f"no such {at.kind[:-1]} on the bus"
        if at is not None and at.kind == "messages":
            return None if at.key in self.threads() else "no such message thread"
        if path.startswith("/") or ".." in Path(path).parts or not path:
            return "not a path inside the repository"
        return None if (root / path).exists() else "no such file"


def event_ref(record: dict[str, Any]) -> str:
    return f"{EVENT_REF}#{models.record_hash(record)}"


def last_event(bus: Bus, agent: str, task: str | None, event: str | None) -> dict[str, Any]:
    for e in reversed(bus.store.tail("events", writers=[agent])):
        rec = e.record
        if (task is None or rec.get("task_id") == task) and (
            event is None or rec.get("event") == event
        ):
            return rec
    raise NotFoundError(f"no event by {agent} matching task={task or '*'} event={event or '*'}")


def log(
    bus: Bus, agent: str, summary: str, refs: list[str], note: str | None, now: int
) -> dict[str, Any]:
    if not summary.strip():
        raise UsageError("memory log --summary must not be empty")
    if not refs:
        raise UsageError("memory log needs at least one --ref (or --last-event)")
    res = Resolver(bus)
    for ref in refs:
        why = res.why_not(ref)
        if why:
            raise NotFoundError(f"reference {ref} does not resolve: {why}")
    rec: dict[str, Any] = {
        "ts": times.fmt(now),
        "agent_id": agent,
        "summary": summary,
        "ref": refs[0],
    }
    if len(refs) > 1:
        rec["refs"] = refs
    if note:
        rec["note"] = note
    files.append_line(bus.repo.root / LOG, models.event_line(rec))
    return rec


def problems(bus: Bus) -> list[str]:
    path = bus.repo.root / LOG
    if not path.is_file():
        return []
    res = Resolver(bus)
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = models.loads(line, f"{LOG} line {n}")
        except CorruptError as exc:
            out.append(exc.message)
            continue
        refs = (
            rec.get("refs") or ([rec["ref"]] if rec.get("ref") else [])
            if isinstance(rec, dict)
            else []
        )
        for ref in refs:
            if isinstance(ref, str) and not ref.startswith(("http://", "https://")):
                why = res.why_not(ref)
                if why:
                    out.append(f"{LOG} line {n}: reference {ref} does not resolve ({why})")
    return out
