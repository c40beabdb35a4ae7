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

from repobus.errors import CorruptError
from repobus.records import models
from repobus.records.times import is_iso
from repobus.store import Problem, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def verify(store: Store) -> list[Problem]:
    return list(store.verify())


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
