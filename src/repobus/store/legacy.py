"""Importing a tracked `_bus/` into the git backend: the history a team wrote with the
original tools (or with repobus's dir backend) becomes commit chains under `refs/repobus/`.

Invariants:
- every record is kept as it was written - timestamps, ids, agents, unknown fields - plus one
  field, `imported` (`from`: the file, `line` or `version`: where in it, and the chain fields
  `seq` / `prev_hash` it had there, which the git chain replaces); a message the original
  tools wrote without a `task_id` is filed in its lane (the file's name) and `imported.added`
  names the field added.  The normal write path (bus/) is not involved and not weakened:
  records go through the store's own `prepare`, which links them and refuses one lacking a
  required field (such a record is reported as skipped, never silently dropped);
- one import is one `update-ref --stdin` transaction: it lands whole or not at all;
- idempotent: a slot the bus already holds is kept as the bus has it, and a log record is
  imported only as many times as its content (`identity`: every field but the per-file chain
  fields of records/layout.message_identity and the `imported` mark) appears in the source
  beyond what the bus already holds - so running it twice, or importing `repobus export`
  output (the same records in other files, at other lines), imports nothing again, while a
  line the original tools wrote twice, identical, is kept twice;
- the team's bus first: with a remote, the import syncs before reading what the bus holds,
  so a clone importing a `_bus/` another clone imported finds those records and adds none;
- anchored: the `import` event written with the records carries `anchors`, one per log
  file read from the worktree's own `_bus/` (never from a `--from` copy: anchors name files
  `_bus/<file>`, and verify checks the worktree's) (records/anchor.py), so `verify` names
  a later edit or drop of an imported line (file and line) while the file is in the working
  tree; a file removed from it is not checked (the team retired the copy), and lines
  appended after the import are not anchored until the next import takes them in.  An
  import over anchored lines that changed is refused.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import cast

from repobus.errors import ConflictError, CorruptError, SetupError, UsageError
from repobus.records import anchor, layout, models, names, required, times
from repobus.store import chains
from repobus.store.base import Problem, Slot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from typing import Any

    from repobus.git.gitcmd import Repo
    from repobus.store.base import Store
    from repobus.store.gitstore import GitStore

CHAIN_FIELDS = ("seq", "prev_hash")
IMPORT_EVENT = "import"
KINDS = ("claims", "assignments", "events", "messages")


@dataclass
class Item:
    """One record to import: where it goes (kind, key of its chain) and where it came from."""

    kind: str
    key: str
    record: dict[str, Any]
    origin: dict[str, Any]


@dataclass
class Result:
    imported: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    present: int = 0  # records or slots the bus already held
    skipped: list[str] = field(default_factory=list)  # "file line: why"
    anchored: int = 0

    def summary(self) -> str:
        got = ", ".join(f"{n} {k}" for k, n in self.imported.items())
        return f"imported {got}" + (f"; {self.present} already on the bus" if self.present else "")


def holds_records(base: Path) -> bool:
    """Whether a `_bus/` folder holds any record file of the layout."""
    return any(
        (base / kind).is_dir() and any((base / kind).glob(layout.FILES[kind]))
        for kind in layout.SLOT_KINDS + layout.LOG_KINDS
    )


# -- reading the source -------------------------------------------------------------------
def _load(line: bytes, where: str) -> dict[str, Any]:
    rec = models.loads(line, where)
    if not isinstance(rec, dict):
        raise CorruptError(f"Invalid JSON in {where}: not a JSON object")
    return rec


def _as_imported(rec: dict[str, Any], origin: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k not in CHAIN_FIELDS and k != "imported"}
    kept = {k: rec[k] for k in CHAIN_FIELDS if k in rec}
    out["imported"] = {**origin, **kept}
    return out


def _slot_items(base: Path, kind: str) -> Iterator[Item]:
    folder = base / kind
    for path in sorted(folder.glob(layout.FILES[kind])) if folder.is_dir() else []:
        rel = layout.bus_path(f"{kind}/{path.name}")
        versions = []
        hist = base / layout.history_file(kind, path.stem)
        if hist.is_file():  # the dir backend's every version of this slot
            for n, line in anchor.record_lines(hist.read_bytes()):
                where = layout.bus_path(layout.history_file(kind, path.stem))
                versions.append(_load(line, f"{where} line {n}"))
        current = _load(path.read_bytes(), rel)
        if not versions or models.record_hash(versions[-1]) != models.record_hash(current):
            versions.append(current)
        for i, rec in enumerate(versions, 1):
            yield Item(kind, path.stem, _as_imported(rec, {"from": rel, "version": i}), {})


def _log_files(base: Path) -> list[tuple[str, Path]]:
    """(kind, path) of every log file: events, task threads and lanes, then inboxes."""
    out = [("events", base / layout.EVENTS_LOG)] if (base / layout.EVENTS_LOG).is_file() else []
    folder = base / "messages"
    found = sorted(folder.glob(layout.FILES["messages"])) if folder.is_dir() else []
    out += [("messages", p) for p in found if not layout.is_inbox(p.stem)]
    out += [("messages", p) for p in found if layout.is_inbox(p.stem)]
    return out


def _writer(rec: dict[str, Any], kind: str) -> str:
    who = rec.get("agent_id" if kind == "events" else "from")
    try:
        return names.agent_id(str(who)) if isinstance(who, str) else "unknown"
    except UsageError:
        return "unknown"


def identity(rec: dict[str, Any]) -> str:
    """What makes a log record the same record wherever it is kept - in a thread and an
    inbox, in `_bus/` and on the bus, in an export: its fields but the per-file ones
    (records/layout.message_identity) and the mark an import adds."""
    same = {k: v for k, v in layout.message_identity(rec).items() if k != "imported"}
    return models.record_hash(same)


def _log_items(kind: str, path: Path, rel: str, copies: set[str]) -> Iterator[Item]:
    """One file's records; an inbox line that repeats a thread's message is its copy."""
    lane = path.stem
    for n, line in anchor.record_lines(path.read_bytes()):
        rec = _load(line, f"{rel} line {n}")
        same = identity(rec)
        if kind == "messages" and layout.is_inbox(lane) and same in copies:
            continue
        copies.add(same)
        origin: dict[str, Any] = {"from": rel, "line": n}
        out = _as_imported(rec, origin)
        if kind == "messages" and "task_id" not in rec:
            out["task_id"] = lane  # the original tools' lane file names its thread
            out["imported"]["added"] = ["task_id"]
        yield Item(kind, _writer(rec, kind), out, origin)


def read_source(base: Path) -> tuple[list[Item], dict[str, dict[str, Any]]]:
    """Every record of a `_bus/` folder, in chain order, and the anchor of each log file."""
    items = [it for kind in layout.SLOT_KINDS for it in _slot_items(base, kind)]
    anchors: dict[str, dict[str, Any]] = {}
    copies: set[str] = set()
    for kind, path in _log_files(base):
        rel = layout.bus_path(str(path.relative_to(base)))
        items += _log_items(kind, path, rel, copies)
        anchors[rel] = anchor.of_lines([ln for _, ln in anchor.record_lines(path.read_bytes())])
    return items, anchors


def tracked(repo: Repo) -> bool:
    """Whether the worktree's `_bus/` holds files tracked by git (a bus the team commits)."""
    res = repo.git("ls-files", "-z", "--", layout.BUS_DIR, check=False)
    return bool(res.stdout.strip(b"\0"))


# -- what the bus holds already -------------------------------------------------------------
def _held_logs(store: GitStore) -> Counter[str]:
    """How many times the bus holds each log record (`identity`), whoever wrote it."""
    return Counter(identity(e.record) for kind in layout.LOG_KINDS for e in store.tail(kind))


def import_events(store: GitStore) -> list[dict[str, Any]]:
    """The `import` events that carry anchors (found by `git log --grep`, one call)."""
    refs = sorted(store.live_heads("events"))
    if not refs:
        return []
    res = store.repo.git(
        "log", "--format=%B%x1e", "--fixed-strings", f'--grep="event":"{IMPORT_EVENT}"', *refs
    )
    out = []
    for chunk in res.stdout.split(b"\x1e"):
        line = chunk.strip().split(b"\n", 1)[0]
        rec = models.loads(line, "import event") if line else None
        if isinstance(rec, dict) and rec.get("event") == IMPORT_EVENT and rec.get("anchors"):
            out.append(rec)
    return out


def anchor_problems(store: GitStore, root: Path | None = None) -> Iterator[Problem]:
    """Lines of the working tree's `_bus/` that changed since an import anchored them: the
    first difference per file (the file and line)."""
    if root is None and not tracked(store.repo):
        return  # an untracked _bus/ beside the git backend is its mirror, not the imported copy
    base = root if root is not None else store.repo.root
    seen: set[str] = set()
    for rec in import_events(store):
        for rel, held in sorted(dict(rec["anchors"]).items()):
            path = base / rel
            if rel in seen or not anchor.is_anchor(held) or not path.is_file():
                continue
            found = anchor.problem(held, anchor.record_lines(path.read_bytes()))
            if found is not None:
                seen.add(rel)
                where, what = found
                yield Problem(rel, where, f"{what} since `repobus import` (at {rec.get('ts')})")


# -- writing ------------------------------------------------------------------------------
def _chain(
    store: GitStore, item: Item, tips: dict[str, Slot | None], out: list[str], res: Result
) -> None:
    ref = store.ref(item.kind, item.key)
    if ref not in tips:
        tips[ref] = store.get(item.kind, item.key)
    tip = tips[ref]
    rec = item.record
    when = times.parse_or_none(
        rec.get("ts") or rec.get("updated_at") or rec.get("claimed_at") or rec.get("assigned_at")
    )
    linked = chains.linked(rec, tip.record if tip else None)
    wrong = required.wrong_type(required.RECORD_OF[item.kind], linked)
    if wrong is not None:  # a field of the wrong type: named, never dropped silently
        mark = rec["imported"]
        at = f"{mark['from']} {mark.get('line', mark.get('version'))}"
        res.skipped.append(f"{at}: field {wrong!r} has the wrong type")
        return
    # As written, even lacking a field the original tools left out (a claim without
    # claimed_at): reads name such a record as they would in _bus/; bus/ decides nothing on it.
    who = str(rec.get("agent_id") or rec.get("from") or rec.get("manager") or "repobus")
    body = models.canonical(linked) + b"\n"
    # the epoch itself (the original seed line's 1970-01-01T00:00:00Z) is a time: every clone
    # importing the same `_bus/` writes the same commits
    stamp = when if when is not None else int(time.time())
    oid = store._commit(tip.version if tip else None, who, stamp, body)
    rec = linked
    tips[ref] = Slot(item.kind, item.key, rec, oid)
    res.imported[item.kind] += 1
    out.append(ref)


def plan(store: GitStore, items: list[Item], res: Result) -> dict[str, tuple[str, str | None]]:
    """Prepare the commits of every record the bus lacks; ref -> (new tip, old tip)."""
    held = _held_logs(store)
    tips: dict[str, Slot | None] = {}
    old: dict[str, str | None] = {}
    moved: list[str] = []
    for item in items:
        same = identity(item.record) if item.origin else ""
        if held[same] > 0:  # one copy the bus holds accounts for one line of the source
            held[same] -= 1
            res.present += 1
            continue
        ref = store.ref(item.kind, item.key)
        if ref not in tips:
            now = store.get(item.kind, item.key)
            old[ref] = now.version if now else None
            if now is not None and item.kind in layout.SLOT_KINDS:
                res.present += 1  # the bus's own history of this slot is kept
                tips[ref] = None
                old[ref] = "keep"
                continue
            tips[ref] = now
        if old[ref] == "keep":
            continue
        _chain(store, item, tips, moved, res)
    return {r: (t.version, old[r]) for r in set(moved) if (t := tips[r]) is not None}


def run(
    bus_store: Store,
    base: Path,
    agent: str,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Result:
    """Import `base` (a `_bus/` folder) into the git store `store`; see the module docstring."""
    if bus_store.kind != "git":  # (the kind, not the class: gitstore's verify imports this)
        raise SetupError(
            "repobus import carries a _bus/ into the git backend; this clone uses the dir "
            "backend, which reads _bus/ as it is",
            hint="switch with its records: repobus init --backend git --migrate",
        )
    store = cast("GitStore", bus_store)
    # Anchors name files `_bus/<file>` and verify checks them in the worktree: they hold for
    # the worktree's own `_bus/` only, never for a copy read with --from (an export, say).
    own = base.resolve() == (store.repo.root / layout.BUS_DIR).resolve()
    stale = list(anchor_problems(store, base.parent)) if own else []
    if stale:
        p = stale[0]
        raise CorruptError(
            f"{p.chain}: {p.where}: {p.what}; the bus keeps what was imported",
            hint=f"restore the file (git checkout -- {p.chain}) before importing again",
        )
    if not dry_run:
        _publish(store)  # the team's bus first: a fresh clone does not import it a second time
    items, anchors = read_source(base)
    anchors = anchors if own else {}
    res = Result()
    moves = plan(store, items, res)
    if progress is not None:
        progress(sum(res.imported.values()), len(items))
    if dry_run or not moves:
        return res
    mark = {
        "ts": times.fmt(int(time.time())),
        "agent_id": agent,
        "event": IMPORT_EVENT,
        "summary": f"{res.summary()} from {layout.BUS_DIR}/",
        "anchors": anchors,
    }
    moves.update(_mark_move(store, agent, mark, moves))
    res.anchored = len(anchors)
    _commit(store, moves)
    _publish(store)
    store.archive_finished()
    return res


def _publish(store: GitStore) -> None:
    """With a remote, one sync: before an import, to fetch what the team's bus holds (so
    another clone's import of the same `_bus/` is found there, not made again); after it, to
    push the imported chains now, as every write is."""
    sync = getattr(store, "sync", None)  # a clone with a remote: store/remotesync.py
    if callable(sync):  # (named, not imported: remotesync builds on the git store)
        sync()


def _mark_move(
    store: GitStore, agent: str, mark: dict[str, Any], moves: dict[str, tuple[str, str | None]]
) -> dict[str, tuple[str, str | None]]:
    """The import event, chained after whatever this import adds to `agent`'s events."""
    ref = store.ref("events", agent)
    tip = store.get("events", agent)
    old = tip.version if tip else None
    if ref in moves:
        new, old = moves[ref]
        line = store.repo.git("log", "-1", "--format=%B", new).stdout.split(b"\n", 1)[0]
        tip = Slot("events", agent, _load(line, ref), new)
    _, oid = store.prepare("events", agent, mark, tip)
    return {ref: (oid, old)}


def _commit(store: GitStore, moves: dict[str, tuple[str, str | None]]) -> None:
    """Every ref of the import in one transaction, each by compare-and-swap."""
    from repobus.git.gitcmd import zero_oid

    script = "".join(f"update {r} {new} {old or zero_oid()}\n" for r, (new, old) in moves.items())
    res = store.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
    if res.returncode != 0:
        raise ConflictError(
            "another writer moved a chain of the import: nothing was imported",
            hint="run repobus import again",
        )


# -- the other way: a git bus into the dir backend ----------------------------------------------
def replay(source: Store, dest: Store) -> dict[str, int]:
    """Every record of `source` written again into the empty store `dest` (each slot's
    history in order, every log record in log order), kept as written but for the chain
    fields, which `dest` links anew; counts per kind."""
    counts = dict.fromkeys(KINDS, 0)
    for kind in layout.SLOT_KINDS:
        for slot in source.list(kind):
            prev: Slot | None = None
            for version in source.history(kind, slot.key):
                prev = dest.put(kind, slot.key, _unchained(version.record), prev)
                counts[kind] += 1
    for kind in layout.LOG_KINDS:
        for entry in source.tail(kind):
            dest.append(kind, _writer(entry.record, kind), _unchained(entry.record))
            counts[kind] += 1
    return counts


def _unchained(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in (*CHAIN_FIELDS, "anchor")}
