"""An agent's inbox (`_bus/messages/agent-<id>.jsonl`) with a per-agent unread cursor.

The original cursor was one timestamp (`last_seen_ts`), which at one-second resolution lost
messages that arrived in the same second.  The cursor here is the last record seen on each
message chain (`seen: {chain: seq}`), kept beside the original keys in one file per agent in
the clone's git dir (shared by all its worktrees), updated under a lock so it only moves
forward.  Records without `seq` (written by the original tools) fall back to the timestamp.
"""

from __future__ import annotations

import json
from pathlib import Path

from repobus.bus import Bus
from repobus.records import layout, models, times
from repobus.store import Entry, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def messages_for(bus: Bus, agent: str) -> list[Entry]:
    """The messages kept in the agent's inbox file: addressed to it (`to`), posted to its
    inbox lane, or read from its inbox file (the original tools' inboxes) - the one rule of
    which files hold a message (records/layout.py `message_files`), as `export` writes them."""
    inbox = layout.inbox_file(agent)
    return [
        e for e in bus.store.tail("messages") if inbox in layout.message_files(e.record, e.chain)
    ]


def cursor_path(bus: Bus, agent: str) -> Path:
    return bus.repo.common_dir / "repobus" / "inbox" / f"{agent}.json"


def load_cursor(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    seen = data.get("seen")
    if seen is not None:  # a damaged cursor forgets what it cannot read: those show as new
        data["seen"] = (
            {k: v for k, v in seen.items() if isinstance(v, int) and not isinstance(v, bool)}
            if isinstance(seen, dict)
            else {}
        )
    return data


def is_unread(entry: Entry, cursor: dict[str, Any]) -> bool:
    seq = entry.record.get("seq")
    seen = cursor.get("seen") or {}
    if isinstance(seq, int) and entry.chain in seen:
        return seq > int(seen[entry.chain])
    last = times.parse_or_none(cursor.get("last_seen_ts"))
    ts = times.parse_or_none(entry.record.get("ts"))
    if isinstance(seq, int) and cursor.get("seen") is not None:
        return True  # a chain never seen before
    return last is None or ts is None or ts > last


def mark_read(path: Path, entries: list[Entry], now: int) -> dict[str, Any]:
    with files.locked(path.with_suffix(".lock")):
        cur = load_cursor(path)
        seen = dict(cur.get("seen") or {})
        last = cur.get("last_seen_ts")
        for e in entries:
            seq = e.record.get("seq")
            if isinstance(seq, int):
                seen[e.chain] = max(seq, int(seen.get(e.chain, 0)))
            ts = e.record.get("ts")
            if times.is_iso(ts) and (last is None or str(ts) > str(last)):
                last = ts
        cur = {"last_checked_at": times.fmt(now), "last_seen_ts": last, "seen": seen}
        files.write_atomic(path, json.dumps(cur, indent=2, sort_keys=True) + "\n")
    return cur


def receipt_text(agent: str, shown: list[Entry], unread: int, now: int, requested: int) -> str:
    last = shown[-1].record.get("ts") if shown else None
    head = [
        "# agent inbox tail",
        f"# agent={agent}",
        f"# channel={layout.bus_path(layout.inbox_file(agent))}",
        f"# captured_at={times.fmt(now)}",
        f"# requested_entries={requested}",
        f"# written_entries={len(shown)}",
        f"# unread_since_state={unread}",
        f"# last_message_ts={last or '-'}",
    ]
    body = [models.message_line(e.record).rstrip("\n") for e in shown] or ["(inbox empty)"]
    return "\n".join(head) + "\n\n" + "\n".join(body) + "\n"
