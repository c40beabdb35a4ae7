"""Validation for CI (`repobus check`) and proof of an untouched history (`repobus verify`).

`check` checks everything the original CI checker checked (FORMATS §21) over the bus as the
original files would show it, plus: no task with two active claims, and every hash chain
intact.  `verify` recomputes the chains and names the first record edited, dropped or
reordered in each, and a chain whose objects this clone no longer has (removed by a prune),
with how to restore it.  Both only read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from repobus import models
from repobus.errors import CorruptError
from repobus.store import Problem, Store
from repobus.times import is_iso

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import Any

    from repobus.store.housekeeping import MissingObjectError

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


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


def verify(store: Store) -> list[Problem]:
    return list(store.verify())


def missing_object(exc: MissingObjectError) -> Problem:
    """A chain whose record this clone's git no longer has: named, with how to restore it."""
    from repobus.store.housekeeping import gap

    what = gap(exc.damage)
    return Problem(
        exc.damage.ref, f"commit {exc.damage.oid[:12]}", f"{what}; {exc.hint}" if exc.hint else what
    )


# -- check --------------------------------------------------------------------------------


@dataclass
class Findings:
    errors: list[str]
    checked: dict[str, int]


def _nonempty(rec: dict[str, Any], key: str) -> bool:
    v = rec.get(key)
    return isinstance(v, str) and bool(v.strip())


def check_claim(name: str, rec: Any, errors: list[str]) -> None:
    where = f"_bus/claims/{name}.json"
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    if rec.get("task_id", rec.get("task")) != name:
        errors.append(f"{where}: task_id {rec.get('task_id')!r} does not match file name")
    if not _nonempty(rec, "agent_id"):
        errors.append(f"{where}: agent_id missing or empty")
    br = rec.get("branch")
    if not (isinstance(br, str) and br.startswith("agent/")):
        errors.append(f"{where}: branch must start with 'agent/', got {br!r}")
    if rec.get("status") not in models.CLAIM_STATUSES:
        errors.append(f"{where}: status {rec.get('status')!r} not in {list(models.CLAIM_STATUSES)}")
    ts = rec.get("claimed_at", rec.get("claimed"))
    if not (isinstance(ts, str) and _ISO.match(ts) and is_iso(ts)):
        errors.append(f"{where}: claimed_at {ts!r} is not ISO8601 UTC")
    rel = rec.get("released_at")
    if rel is not None and not (isinstance(rel, str) and is_iso(rel)):
        errors.append(f"{where}: released_at {rel!r} is not ISO8601 UTC")


def check_event(where: str, rec: Any, errors: list[str]) -> None:
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    missing = [k for k in ("ts", "agent_id", "event", "summary") if k not in rec]
    if missing:
        errors.append(f"{where}: missing keys {missing}")
    if "ts" in rec and not is_iso(rec.get("ts")):
        errors.append(f"{where}: ts {rec.get('ts')!r} is not ISO8601 UTC")
    if not _nonempty(rec, "agent_id"):
        errors.append(f"{where}: agent_id missing or empty")


def check_assignment(name: str, rec: Any, errors: list[str]) -> None:
    where = f"_bus/assignments/{name}.json"
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    for k in ("task_id", "engineer", "manager", "assigned_at"):
        if not _nonempty(rec, k):
            errors.append(f"{where}: {k} missing or empty")
    if _nonempty(rec, "assigned_at") and not _ISO.match(rec["assigned_at"]):
        errors.append(f"{where}: assigned_at {rec['assigned_at']!r} is not ISO8601 UTC")


def check_message(where: str, rec: Any, errors: list[str]) -> None:
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    for k in ("ts", "from", "type", "task_id", "summary"):
        if not _nonempty(rec, k):
            errors.append(f"{where}: {k} missing or empty")
    if _nonempty(rec, "ts") and not _ISO.match(rec["ts"]):
        errors.append(f"{where}: ts {rec['ts']!r} is not ISO8601 UTC")


def check_directives(threads: dict[str, list[Any]], errors: list[str]) -> None:
    pointers = {
        (m.get("meta") or {}).get("directive")
        for m in threads.get("manager-report", [])
        if isinstance(m, dict) and isinstance(m.get("meta"), dict)
    }
    for name, msgs in sorted(threads.items()):
        if not name.startswith("BUS-COORD-"):
            continue
        if (
            any(isinstance(m, dict) and m.get("type") == "directive" for m in msgs)
            and name not in pointers
        ):
            errors.append(
                f"manager-report.jsonl missing pointer for directive {name}; "
                "run tools.agent.directive_pointer to mirror BUS-COORD threads"
            )


def check_duplicates(claims: Iterable[dict[str, Any]], errors: list[str]) -> None:
    active: dict[str, list[str]] = {}
    for rec in claims:
        if isinstance(rec, dict) and rec.get("status") == "active":
            active.setdefault(str(rec.get("task_id")), []).append(str(rec.get("agent_id")))
    for task, agents in sorted(active.items()):
        if len(agents) > 1:
            errors.append(
                f"duplicate claim: task {task} has {len(agents)} active claims "
                f"({', '.join(sorted(agents))}); resolve by releasing one: "
                f"repobus release --task {task} --agent <id> --status released"
            )


def read_tree(base: Any) -> dict[str, str]:
    """The `_bus/` files a check reads, relative path -> text."""
    files: dict[str, str] = {}
    for sub, pattern in (
        ("claims", "*.json"),
        ("assignments", "*.json"),
        ("events", "events.jsonl"),
        ("messages", "*.jsonl"),
    ):
        folder = base / sub
        for p in sorted(folder.glob(pattern)) if folder.is_dir() else []:
            files[f"{sub}/{p.name}"] = p.read_text(encoding="utf-8", errors="replace")
    return files


def _parse(text: str, where: str, errors: list[str]) -> Any:
    try:
        return models.loads(text, where)
    except CorruptError as exc:
        errors.append(exc.message)
        return None


def check_files(files: dict[str, str]) -> tuple[list[str], dict[str, int]]:
    errors: list[str] = []
    counts = {"claims": 0, "assignments": 0, "events": 0, "messages": 0}
    claims: list[dict[str, Any]] = []
    threads: dict[str, list[Any]] = {}
    for rel, text in sorted(files.items()):
        sub, _, name = rel.partition("/")
        stem = name.rsplit(".", 1)[0]
        if sub in ("claims", "assignments"):
            rec = _parse(text, f"_bus/{rel}", errors)
            if rec is None:
                continue
            counts[sub] += 1
            if sub == "claims":
                check_claim(stem, rec, errors)
                claims.append(rec)
            else:
                check_assignment(stem, rec, errors)
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"_bus/{rel} line {n}"
            what = "events log" if sub == "events" else where
            rec = _parse(line, what if sub == "events" else where, errors)
            if rec is None:
                continue
            counts[sub] += 1
            if sub == "events":
                check_event(where, rec, errors)
            else:
                check_message(where, rec, errors)
                threads.setdefault(stem, []).append(rec)
    check_directives(threads, errors)
    check_duplicates(claims, errors)
    return errors, counts
