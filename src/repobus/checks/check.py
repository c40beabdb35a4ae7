"""Validation for CI (`repobus check`) and proof of an untouched history (`repobus verify`).

`check` checks everything the original CI checker checked (FORMATS §21) over the bus as the
original files would show it, plus: no task with two active claims, and every hash chain
intact.  `check --dir DIR` reads a folder: a dir backend's own `_bus/` (it has `history/`) is
verified as that store; any other folder is a view of a bus (the git backend's `_bus/` mirror,
`export` output), which holds each claim's latest version only and several writers' chains
interleaved in one file: there every record whose predecessor is present must link to it.
Paths are named under DIR as given.  Which fields a record must carry is
`records/required.py` (a claim's five are each judged by a rule of their own, in the original
checker's words); which file is which is `records/layout.py`.  `verify` recomputes the chains
and names the first record edited, dropped or reordered in each, and a chain whose objects this
clone no longer has (removed by a prune), with how to restore it.  Both only read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from repobus.errors import CorruptError
from repobus.records import layout, models, required
from repobus.records.times import is_iso
from repobus.store import Problem, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def verify(store: Store) -> list[Problem]:
    return list(store.verify())


# -- check --------------------------------------------------------------------------------


@dataclass
class Findings:
    errors: list[str]
    checked: dict[str, int]


def _nonempty_str(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _nonempty(rec: dict[str, Any], key: str) -> bool:
    return _nonempty_str(rec.get(key))


def _iso(v: Any) -> bool:
    return isinstance(v, str) and bool(_ISO.match(v)) and is_iso(v)


def _claim_rules(name: str) -> dict[str, tuple[Callable[[Any], bool], Callable[[Any], str]]]:
    """How each required field of a claim is judged, and the words when it fails."""
    return {
        "task_id": (lambda v: v == name, lambda v: f"task_id {v!r} does not match file name"),
        "agent_id": (_nonempty_str, lambda v: "agent_id missing or empty"),
        "branch": (
            lambda v: isinstance(v, str) and v.startswith("agent/"),
            lambda v: f"branch must start with 'agent/', got {v!r}",
        ),
        "status": (
            lambda v: v in models.CLAIM_STATUSES,
            lambda v: f"status {v!r} not in {list(models.CLAIM_STATUSES)}",
        ),
        "claimed_at": (_iso, lambda v: f"claimed_at {v!r} is not ISO8601 UTC"),
    }


def check_claim(name: str, rec: Any, errors: list[str]) -> None:
    where = layout.bus_path(layout.slot_file("claims", name))
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    rules = _claim_rules(name)
    for field in required.REQUIRED["claim"]:
        v = required.value("claim", rec, field)
        rule = rules.get(field)
        if rule is None and required.is_missing("claim", rec, field):
            errors.append(f"{where}: {field} missing or empty")  # a field with no rule of its own
        elif rule is not None and not rule[0](v):
            errors.append(f"{where}: {rule[1](v)}")
    rel = rec.get("released_at")
    if rel is not None and not (isinstance(rel, str) and is_iso(rel)):
        errors.append(f"{where}: released_at {rel!r} is not ISO8601 UTC")


def check_event(where: str, rec: Any, errors: list[str]) -> None:
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    missing = [k for k in required.REQUIRED["event"] if k not in rec]
    if missing:
        errors.append(f"{where}: missing keys {missing}")
    if "ts" in rec and not is_iso(rec.get("ts")):
        errors.append(f"{where}: ts {rec.get('ts')!r} is not ISO8601 UTC")
    if not _nonempty(rec, "agent_id"):
        errors.append(f"{where}: agent_id missing or empty")


def check_assignment(name: str, rec: Any, errors: list[str]) -> None:
    where = layout.bus_path(layout.slot_file("assignments", name))
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    for k in required.missing("assignment", rec):
        errors.append(f"{where}: {k} missing or empty")
    if _nonempty(rec, "assigned_at") and not _ISO.match(rec["assigned_at"]):
        errors.append(f"{where}: assigned_at {rec['assigned_at']!r} is not ISO8601 UTC")


def check_message(where: str, rec: Any, errors: list[str]) -> None:
    if not isinstance(rec, dict):
        errors.append(f"{where}: not a JSON object")
        return
    for k in required.missing("message", rec):
        errors.append(f"{where}: {k} missing or empty")
    if _nonempty(rec, "ts") and not _ISO.match(rec["ts"]):
        errors.append(f"{where}: ts {rec['ts']!r} is not ISO8601 UTC")


def check_directives(threads: dict[str, list[Any]], errors: list[str]) -> None:
    pointers = {
        (m.get("meta") or {}).get("directive")
        for m in threads.get(layout.MANAGER_LANE, [])
        if isinstance(m, dict) and isinstance(m.get("meta"), dict)
    }
    for name, msgs in sorted(threads.items()):
        if not name.startswith(layout.DIRECTIVE_PREFIX):
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
    for kind in (*layout.SLOT_KINDS, *layout.LOG_KINDS):
        folder = base / kind
        for p in sorted(folder.glob(layout.FILES[kind])) if folder.is_dir() else []:
            files[f"{kind}/{p.name}"] = p.read_text(encoding="utf-8", errors="replace")
    return files


def _parse(text: str, where: str, errors: list[str]) -> Any:
    try:
        return models.loads(text, where)
    except CorruptError as exc:
        errors.append(exc.message)
        return None


@dataclass
class _Seen:
    """What one pass over the files gathered for the checks that span files."""

    counts: dict[str, int]
    claims: list[dict[str, Any]]
    threads: dict[str, list[Any]]


def _check_slot(at: layout.Place, rel: str, text: str, seen: _Seen, errors: list[str]) -> None:
    rec = _parse(text, layout.bus_path(rel), errors)
    if rec is None:
        return
    seen.counts[at.kind] += 1
    if at.kind == "claims":
        check_claim(at.key, rec, errors)
        seen.claims.append(rec)
    else:
        check_assignment(at.key, rec, errors)


def _check_log(at: layout.Place, rel: str, text: str, seen: _Seen, errors: list[str]) -> None:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{layout.bus_path(rel)} line {n}"
        rec = _parse(line, "events log" if at.kind == "events" else where, errors)
        if rec is None:
            continue
        seen.counts[at.kind] += 1
        if at.kind == "events":
            check_event(where, rec, errors)
        else:
            check_message(where, rec, errors)
            seen.threads.setdefault(at.key, []).append(rec)


def check_files(files: dict[str, str]) -> tuple[list[str], dict[str, int]]:
    errors: list[str] = []
    seen = _Seen({k: 0 for k in (*layout.SLOT_KINDS, *layout.LOG_KINDS)}, [], {})
    for rel, text in sorted(files.items()):
        at = layout.place(rel)
        if at is None:  # e.g. a message whose task_id is not a single path component
            errors.append(f"{layout.bus_path(rel)}: not a record file of the bus layout")
        elif at.kind in layout.SLOT_KINDS:
            _check_slot(at, rel, text, seen, errors)
        else:
            _check_log(at, rel, text, seen, errors)
    check_directives(seen.threads, errors)
    check_duplicates(seen.claims, errors)
    return errors, seen.counts


# -- check --dir ----------------------------------------------------------------------------


def is_store_folder(base: Path) -> bool:
    """A dir backend's own `_bus/` keeps every slot's versions in `history/`; a view has none."""
    return (base / "history").is_dir()


def view_problems(base: Path) -> list[Problem]:
    """Broken links in a view of the bus (see the module docstring): per file and writer, a
    record following its predecessor (seq + 1) must carry that predecessor's hash."""
    found: list[Problem] = []
    for kind in layout.LOG_KINDS:
        folder = base / kind
        for p in sorted(folder.glob(layout.FILES[kind])) if folder.is_dir() else []:
            problem = _view_file(layout.bus_path(f"{kind}/{p.name}"), p.read_bytes())
            if problem is not None:
                found.append(problem)
    return found


def _view_file(chain: str, data: bytes) -> Problem | None:
    last: dict[str, tuple[int, dict[str, Any], str]] = {}  # writer -> (seq, record, where)
    for n, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {n}"
        try:
            rec = models.loads(line, where)
        except CorruptError as exc:
            return Problem(chain, where, f"record is unreadable: {exc.message}")
        seq = rec.get("seq") if isinstance(rec, dict) else None
        if not isinstance(seq, int) or isinstance(seq, bool):
            continue  # a line of the original tools: no chain to check
        writer = str(rec.get("agent_id") or rec.get("from") or "")
        before = last.get(writer)
        follows = before is not None and seq == before[0] + 1
        if follows and before and rec.get("prev_hash") != models.record_hash(before[1]):
            return Problem(
                chain,
                where,
                f"record seq {before[0]} ({before[2]}) was edited: its hash no longer "
                f"matches the prev_hash recorded by the next record ({where})",
            )
        last[writer] = (seq, rec, where)
    return None


def under(message: str, shown: str) -> str:
    """`message` with its `_bus/` paths named under the folder checked, as given."""
    folder = shown.rstrip("/") + "/"
    pattern = r"(^|[\s(\[])" + re.escape(layout.bus_path(""))
    return re.sub(pattern, lambda m: m.group(1) + folder, message)
