"""A writer's patch of the status snapshot, made right after its own write, so that `status`
right after a write answers from the file instead of catching the index up.

Invariants:
- a patch starts only from a snapshot that is current (`snapshot.fresh`) when the writer
  looks, just before its ref update (`probe`) - or was, before nothing but this thread's own
  refused updates (a lost compare-and-swap moves no ref but touches the directories) -, and
  is written only if the write generation
  then moved by exactly the ref updates this thread made (`apply`): any other repobus write
  in between, or a snapshot replaced meanwhile, and nothing is patched (the next `status`
  catches the index up, as without a patch);
- the patched snapshot is provisional: it names the fingerprint and generation after the
  write and keeps when its chain of patches began, so readers use it only under the one rule
  of `snapshot.fresh`;
- its lines are made by the functions the index's build uses (`snapshot.claim_line`,
  `claim_columns`, `claim_view`, `event_line`), so a patched snapshot is byte for byte the
  one a rebuild would make; anything the patch cannot place exactly (an event older than the
  newest kept, a view the format cannot hold) abandons the patch.
"""

from __future__ import annotations

import bisect
import time

from repobus.git import fingerprint
from repobus.git.gitcmd import COUNTS
from repobus.store import snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_HEAD = 1024  # bytes read by a probe: the header lines


class Probe:
    """What a write saw before its ref update. A plain class, not a dataclass: importing
    dataclasses costs ~25 ms (inspect, ast, tokenize), paid by every CLI write."""

    __slots__ = ("bumps", "common", "gen", "missed", "sig")

    def __init__(self, common: str, sig: str, gen: str, bumps: int, missed: int) -> None:
        self.common, self.sig, self.gen, self.bumps, self.missed = common, sig, gen, bumps, missed


def probe(common_dir: object, indexed: bool = True) -> Probe | None:
    """Before a write: the state a patch may start from; None when there is no current
    snapshot (nothing to patch: no index, no snapshot yet, or one out of date)."""
    if not indexed:
        return None
    common = str(common_dir)
    path = snapshot.path_in(common)
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError:
        return None
    gen = fingerprint.generation(common)
    sig, now = fingerprint.ref_signature(common)[0], time.time_ns()
    if gen == "-" or not (snapshot.fresh(head, sig, gen, now) or _own_churn(head, sig, gen, now)):
        return None
    return Probe(common, snapshot.sig_of(head) or "", gen, COUNTS.bumps, COUNTS.missed)


def _own_churn(head: bytes, sig: str, gen: str, now: int) -> bool:
    """Whether the snapshot was current before this thread's own refused ref updates, the
    only change since (they move no ref; their lock files change the fingerprint)."""
    churn = COUNTS.churn
    return (
        churn is not None and churn[1:] == (sig, gen) and snapshot.fresh(head, churn[0], gen, now)
    )


def apply(
    p: Probe | None,
    events: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
    claims: list[tuple[str, dict[str, Any]]] = (),  # type: ignore[assignment]
) -> bool:
    """After the write: the snapshot with this thread's changes (events as (chain ref,
    record), claims as (task, record)), saved as provisional; False when not patched."""
    if p is None or COUNTS.missed != p.missed:
        return False
    gen = fingerprint.generation(p.common)
    if not fingerprint.only_these(p.gen, gen, COUNTS.bumps - p.bumps):
        return False
    sig = fingerprint.ref_signature(p.common)[0]
    path = snapshot.path_in(p.common)
    data = snapshot.read(path)
    got = snapshot.gen_of(data) if data else None
    if data is None or got is None or snapshot.sig_of(data) != p.sig or got[0] != p.gen:
        return False  # replaced since the probe
    new = patched(data, sig, gen, got[1] or time.time_ns(), events, claims)
    if new is None:
        return False
    snapshot.save(path, new)
    return True


def patched(
    data: bytes,
    sig: str,
    gen: str,
    start_ns: int,
    events: list[tuple[str, dict[str, Any]]],
    claims: list[tuple[str, dict[str, Any]]],
) -> bytes | None:
    """`data` with the events and the claims in place; None when a change cannot be placed
    exactly where a rebuild would put it."""
    try:
        _, kept, live, done = snapshot.sections(data)
    except (IndexError, ValueError):
        return None
    for chain, rec in events:
        if not _event(kept, chain, rec):
            return None
    kept = kept[-snapshot.EVENTS :]
    for key, rec in claims:
        if not _claim(live, done, key, rec):
            return None
    return snapshot.assemble(snapshot.header(sig, gen, start_ns), kept, live, done)


def _event(kept: list[bytes], chain: str, rec: dict[str, Any]) -> bool:
    """Put the event's line where the index orders it (in place)."""
    from repobus.records.times import parse_or_none

    seq = rec.get("seq")
    line = snapshot.event_line(parse_or_none(rec.get("ts")), seq, chain, rec)
    if line is None or not isinstance(seq, int) or isinstance(seq, bool):
        return False
    mine = snapshot.event_order(line)
    if not kept or snapshot.event_order(kept[-1]) < mine:  # the usual case: the newest
        kept.append(line)
    else:
        kept.insert(bisect.bisect_left([snapshot.event_order(x) for x in kept], mine), line)
    return True


def _claim(live: list[bytes], done: list[bytes], key: str, rec: dict[str, Any]) -> bool:
    """Replace task `key`'s line in the live or finished lines (in place)."""
    status, lease_end, base = snapshot.claim_columns(key, rec)
    got = snapshot.claim_line(key, snapshot.claim_view(key, rec), status, lease_end, base)
    if got is None:
        return False
    name = key.encode("utf-8")
    live[:] = [line for line in live if line.split(b" ", 3)[2] != name]
    needle = b" " + name + b" "
    done[:] = [line for line in done if not (needle in line and line.split(b" ", 2)[1] == name)]
    finished, when, line = got
    if not finished:
        keys = [x.split(b" ", 3)[2] for x in live]
        live.insert(bisect.bisect_left(keys, name), line)
        return True
    mine = (-when, name)
    if not done or mine <= _order(done[0]):  # the usual case: finished just now, newest
        done.insert(0, line)
        return True
    done.insert(bisect.bisect_left([_order(x) for x in done], mine), line)
    return True


def _order(line: bytes) -> tuple[int, bytes]:
    """Where a finished line sorts: newest first, then by task (as `snapbuild.build`)."""
    word, name, _ = line.split(b" ", 2)
    return (1 if word == b"-" else -int(word)), name
