"""The trusted status snapshot (store/snapshot.py, the format) built from the index: the
claims' lines from its slots, the newest events from its logs, in the index's order.

Invariant: every line is made by the format's own line functions (`snapshot.claim_line`,
`snapshot.event_line`), the ones a writer's patch uses too (store/snappatch.py), so a built
and a patched snapshot of the same refs are byte for byte the same.
"""

from __future__ import annotations

from repobus.store.snapshot import EVENTS, assemble, claim_line, event_line, header

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CLAIMS = """
    SELECT key, view, status, lease_end, base FROM slots WHERE kind='claims' ORDER BY key"""


def build(db: Any, sig: str, gen: str) -> bytes | None:
    """The trusted snapshot of the index `db` holds (read in one transaction by the caller)
    for the fingerprint `sig` and the write generation `gen`; None when a view cannot be
    held in this format."""
    live: list[bytes] = []
    done: list[tuple[int, bytes]] = []
    for key, view, status, lease_end, base in db.execute(_CLAIMS):
        got = claim_line(key, view, status, lease_end, base)
        if got is None:
            return None
        if got[0]:
            done.append((got[1], got[2]))
        else:
            live.append(got[2])
    done.sort(key=lambda t: -t[0])  # newest first; one with no time last
    events = _events(db)
    if events is None:
        return None
    return assemble(header(sig, gen, 0), events, live, [line for _, line in done])


def _events(db: Any) -> list[bytes] | None:
    """The newest EVENTS events, oldest first, as `event_line`s."""
    from repobus.records.models import loads
    from repobus.store import indexrows as rows  # the builder only: not the lean path

    events, decode = [], rows.decoder(3)
    for got in db.execute(
        f"SELECT l.ts, l.seq, c.text, {rows.RECORD} FROM {rows.LOGS} WHERE {rows.EVENT_ROWS} "
        f"{rows.NEWEST_FIRST} LIMIT {EVENTS}"
    ):
        line = event_line(got[0], got[1], got[2], loads(decode(got), "the index"))
        if line is None:
            return None
        events.append(line)
    events.reverse()
    return events
