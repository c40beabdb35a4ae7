"""Where the bus lives: the ref namespace of the git backend, and the `_bus/` tree the original
scripts kept (FORMATS §0) -- the files the dir backend writes, the mirror and `export` lay
out, `check` reads and the inbox and the session receipt name.

One definition, read by every layer.  Paths under `_bus/` are given relative to it, with `/`:

    claims/<TASK>.json            assignments/<TASK>.json        events/events.jsonl
    messages/<TASK>.jsonl         a task's thread (also the manager-report and BUS-COORD-* lanes)
    messages/agent-<id>.jsonl     an agent's inbox: the id lower-cased; a message addressed
                                  (`to`) is kept in its thread and its addressee's inbox
    history/<kind>/<TASK>.jsonl   the dir backend's chain of a claim's or assignment's versions

Invariants: `place` is the inverse of the record paths: `place(slot_file(k, key))`,
`place(thread_file(key))` and `place(EVENTS_LOG)` give the kind and key back for every key
`records/names.py` accepts; any other path (history, README, a key that is not one path
component) is not a record file and gives None.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

ROOT = "refs/repobus"
SLOT_KINDS = ("claims", "assignments")  # one current record per key, with its history
LOG_KINDS = ("events", "messages")  # append-only chains, one per writer

BUS_DIR = "_bus"
EVENTS_LOG = "events/events.jsonl"  # one merged log (the git backend keeps one per writer)
MANAGER_LANE = "manager-report"  # the managers' lane: a thread that is no task's
DIRECTIVE_PREFIX = "BUS-COORD-"  # directive threads, pointed to from the manager lane
INBOX_PREFIX = "agent-"
MANAGER_REPORT = f"messages/{MANAGER_LANE}.jsonl"
# The record files of each kind, as a glob inside `_bus/<kind>/`.
FILES = {
    "claims": "*.json",
    "assignments": "*.json",
    "events": "events.jsonl",
    "messages": "*.jsonl",
}
_SUFFIX = {"claims": ".json", "assignments": ".json", "events": ".jsonl", "messages": ".jsonl"}


class Place(tuple[str, str]):
    """A record file's kind and key (the events log's key is `events`).  A plain tuple
    subclass, not a NamedTuple: `typing` would cost the lean status path ~10 ms to import."""

    __slots__ = ()

    def __new__(cls, kind: str, key: str) -> Place:
        return super().__new__(cls, (kind, key))

    @property
    def kind(self) -> str:
        return self[0]

    @property
    def key(self) -> str:
        return self[1]


def bus_path(rel: str) -> str:
    """A path under `_bus/` as the repository shows it (`_bus/claims/T-1.json`)."""
    return f"{BUS_DIR}/{rel}"


def slot_file(kind: str, key: str) -> str:
    return f"{kind}/{key}.json"


def history_file(kind: str, key: str) -> str:
    return f"history/{kind}/{key}.jsonl"


def thread_file(lane: str) -> str:
    return f"messages/{lane}.jsonl"


def inbox_lane(agent: str) -> str:
    return INBOX_PREFIX + agent.lower()


def inbox_file(agent: str) -> str:
    return thread_file(inbox_lane(agent))


# Fields that differ between the copies of one message in several files (each file is its
# own chain): left out when telling whether an inbox line is a copy of a thread's.
PER_FILE_KEYS = frozenset({"seq", "prev_hash", "anchor"})


def message_identity(rec: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a message the same message in a thread and in an inbox."""
    return {k: v for k, v in rec.items() if k not in PER_FILE_KEYS}


def lane(rec: Mapping[str, Any], source: str | None = None) -> str:
    """The thread a message belongs to: its `task_id`; one without (the original tools'
    hand-written manager-report lines) keeps the thread it was read from (`source`, the
    `messages/<lane>.jsonl` a dir backend read it from), else the managers' lane -- the only
    lane the original tools kept task-less lines in, and where the git backend, which keeps
    messages per writer and no file, files them."""
    task = rec.get("task_id")
    if isinstance(task, str) and task:
        return task
    src = place(source) if source else None
    return src.key if src is not None and src.kind == "messages" else MANAGER_LANE


def message_files(rec: Mapping[str, Any], source: str | None = None) -> list[str]:
    """Where a message is kept: its lane's thread (`lane`), and its addressee's inbox.  A
    message read from an inbox (`source`) and from no thread is kept in that inbox alone."""
    src = place(source) if source else None
    if src is not None and src.kind == "messages" and is_inbox(src.key):
        return [thread_file(src.key)]
    out = [thread_file(lane(rec, source))]
    if rec.get("to"):
        out.append(inbox_file(str(rec["to"])))
    return out


def log_files(kind: str, rec: Mapping[str, Any]) -> list[str]:
    return [EVENTS_LOG] if kind == "events" else message_files(rec)


def is_inbox(lane: str) -> bool:
    return lane.startswith(INBOX_PREFIX)


def is_lane(task: str) -> bool:
    """A thread that is not a task's: the manager lane, a directive thread, an inbox."""
    return task == MANAGER_LANE or task.startswith((DIRECTIVE_PREFIX, INBOX_PREFIX))


def place(rel: str) -> Place | None:
    """Which record file `rel` (relative to `_bus/`) is; None when it is none."""
    kind, _, name = rel.partition("/")
    suffix = _SUFFIX.get(kind)
    if suffix is None or not name.endswith(suffix):
        return None
    key = name[: -len(suffix)]
    if not key or "/" in key or (kind == "events" and rel != EVENTS_LOG):
        return None
    return Place(kind, key)


def place_of(path: str) -> Place | None:
    """Which record file a repository path (`_bus/claims/T-1.json`) is; None when none."""
    head, _, rel = path.partition("/")
    return place(rel) if head == BUS_DIR else None
