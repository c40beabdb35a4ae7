"""The hash-chain rule: how a chain of records proves that nothing was edited, dropped or
reordered.  One definition, used by every store's `verify` and by `repobus check`.

Records written before repobus (no `seq`, no `prev_hash`) at the start of a chain are accepted
as they are; from the first record that carries them, each must hold the hash of the one
before it and the next sequence number.
"""

from __future__ import annotations

from repobus.records import models, times
from repobus.store.base import Entry, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from typing import Any

    from repobus.store.gitstore import GitStore
    from repobus.store.housekeeping import MissingObjectError


FIRST = -(2**62)  # sorts before every time and place


def log_order(entry: Entry) -> tuple[int, str, int]:
    """Where a log record sorts, as the index sorts it: time, writer, place in the chain
    (what cannot be read sorts first, as SQLite sorts NULL)."""
    ts = times.parse_or_none(entry.record.get("ts"))
    seq = entry.record.get("seq")
    place = seq if isinstance(seq, int) and not isinstance(seq, bool) else FIRST
    return (FIRST if ts is None else ts, entry.chain, place)


def linked(record: dict[str, Any], prev: dict[str, Any] | None) -> dict[str, Any]:
    """`record` as the next link after `prev` (None: the chain's first): a copy with the hash
    of `prev` as `prev_hash` and the next `seq`.  Every store links its writes with it."""
    rec = dict(record)
    rec.pop("prev_hash", None)
    if prev is not None:
        rec["prev_hash"] = models.record_hash(prev)
    rec["seq"] = models.next_seq(prev)
    return rec


def _seq(rec: Any) -> int | None:
    if not isinstance(rec, dict):
        return None
    s = rec.get("seq")
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def chain_problems(
    chain: str, items: Sequence[tuple[str, dict[str, Any] | None, str]]
) -> Iterator[Problem]:
    """The first broken link of one chain, oldest record first; records written before
    repobus (no `seq`, no `prev_hash`) at the start of a chain are accepted as they are."""
    later_seqs = [(_seq(r) if r else None) for _, r, _ in items]
    prev: dict[str, Any] | None = None
    prev_where = ""
    for i, (where, rec, err) in enumerate(items):
        if rec is None or not isinstance(rec, dict):
            yield Problem(chain, where, f"record is unreadable: {err or 'not a JSON object'}")
            return
        seq, ph = _seq(rec), rec.get("prev_hash")
        legacy = seq is None and ph is None
        if prev is None or (legacy and _seq(prev) is None and prev.get("prev_hash") is None):
            if ph is not None and prev is None:
                yield Problem(
                    chain,
                    where,
                    f"record seq {seq} follows a record that is missing "
                    "(the chain's first records were dropped)",
                )
                return
            if not legacy and seq not in (None, 1) and prev is None:
                yield Problem(chain, where, f"chain starts at seq {seq}: earlier records dropped")
                return
            prev, prev_where = rec, where
            continue
        if ph != models.record_hash(prev):
            yield Problem(
                chain, where, _classify(prev, prev_where, rec, where, later_seqs[i + 1 :])
            )
            return
        ps = _seq(prev)
        if seq is not None and ps is not None and seq != ps + 1:
            yield Problem(chain, where, f"record seq {seq} follows seq {ps}: sequence edited")
            return
        prev, prev_where = rec, where


def _classify(
    prev: dict[str, Any],
    prev_where: str,
    rec: dict[str, Any],
    where: str,
    later: list[int | None],
) -> str:
    ps, seq = _seq(prev), _seq(rec)
    if ps is not None and seq is not None:
        if seq > ps + 1:
            missing = list(range(ps + 1, seq))
            if any(m in later for m in missing):
                return (
                    f"record seq {seq} ({where}) comes before seq {missing[0]}: records reordered"
                )
            gap = f"seq {missing[0]}" + (f"..{missing[-1]}" if len(missing) > 1 else "")
            return f"record {gap} dropped between {prev_where} and {where}"
        if seq <= ps:
            return f"record seq {seq} ({where}) comes after seq {ps}: records reordered"
    return (
        f"record seq {ps} ({prev_where}) was edited: its hash no longer matches the "
        f"prev_hash recorded by the next record ({where})"
    )


def missing_object(exc: MissingObjectError) -> Problem:
    """A chain whose record this clone's git no longer has: named, with how to restore it."""
    from repobus.store.housekeeping import gap

    what = gap(exc.damage)
    return Problem(
        exc.damage.ref, f"commit {exc.damage.oid[:12]}", f"{what}; {exc.hint}" if exc.hint else what
    )


def git_chain_problems(store: GitStore, ref: str, tip: str) -> Iterator[Problem]:
    """`chain_problems` of the git chain ending at `tip` (named `ref`): one `git log`; a merge
    commit or a pruned object is a Problem too."""
    from repobus.errors import CorruptError
    from repobus.store import housekeeping

    try:
        with housekeeping.readable(store, ref):  # housekeeping: a pruned object is a Problem
            res = store.repo.git("log", "--reverse", "--format=%H%x00%P%x00%B%x1e", tip, "--")
    except housekeeping.MissingObjectError as exc:
        yield missing_object(exc)
        return
    items: list[tuple[str, dict[str, Any] | None, str]] = []
    for chunk in res.stdout.split(b"\x1e"):
        chunk = chunk.lstrip(b"\n")
        if not chunk:
            continue
        oid, parents, body = chunk.split(b"\x00", 2)
        where = f"commit {oid.decode()[:12]}"
        if len(parents.split()) > 1:
            yield Problem(ref, where, "merge commit in a bus chain (ref rewritten)")
            return
        try:
            items.append((where, store.record_of(body, where), ""))
        except CorruptError as exc:
            items.append((where, None, exc.message))
    yield from chain_problems(ref, items)
