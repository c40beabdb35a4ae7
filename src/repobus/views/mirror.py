"""The worktree's read-only `_bus/` mirror of the git backend (the playbook's step 4 reads
`_bus/claims/`, `_bus/messages/`, `_bus/events/` directly).

Invariants:
- incremental: the mirrored chain heads are remembered in the worktree's git dir; a refresh
  writes only the claim/assignment files whose version changed and appends only the new log
  lines (one `write` per file); `events.jsonl` is rewritten whole only when the mirror no
  longer matches what was written (someone edited or truncated it) or a chain was rewritten;
- cheap when nothing changed: a fingerprint of the ref directories (a few `stat` calls) is
  compared first; a fingerprint younger than RACY_NS is not trusted (file-time granularity),
  so a change landing in the same clock tick is never missed;
- read-only: mirrored files are mode 0444 and `_bus/` is listed in `.git/info/exclude`;
- never clobbers a tracked `_bus/` (a repository that commits its bus): the mirror is then
  disabled for that worktree;
- one refresher at a time per worktree (flock), so concurrent commands never duplicate lines.
"""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from repobus.bus import Bus
from repobus.git import fingerprint, policy
from repobus.git.ignore import ensure_excluded
from repobus.records import layout, models
from repobus.store import Entry, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.store.index import Index

SLOTS = layout.SLOT_KINDS
LOGS = layout.LOG_KINDS
RACY_NS = 500_000_000  # file times are coarse: a younger fingerprint is not trusted
MANY = 16  # more moved slots than this are read in one pass
STATE_VERSION = 2  # 2: slots keep the live ones and the archive marker
README = (
    "This directory is a read-only mirror of the repobus git backend "
    "(refs/repobus/), refreshed by every repobus command.\nDo not edit: write with "
    "repobus (or the tools/agent shims). `repobus export` rebuilds it.\n"
)
RO = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Mirror:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.store = bus.store
        self.dest = mirror_path(bus.repo.root)
        gd = bus.repo.git_dir
        self.state_path = gd / "repobus-mirror.json"
        self.sig_path = gd / "repobus-mirror.sig"
        self.lock_path = gd / "repobus-mirror.lock"

    # -- fingerprints ---------------------------------------------------------------------
    def signature(self) -> dict[str, list[int]]:
        return {k: list(self.store.signature(k)) for k in (*SLOTS, *LOGS)}

    @staticmethod
    def _racy(sig: list[int], now_ns: int) -> bool:
        mtimes = sig[0::3]
        return any(now_ns - m < RACY_NS for m in mtimes if m)

    def fast_path(self) -> dict[str, Any] | None:
        """The result when the mirror is known current (or disabled) without reading any
        ref; None when a refresh must look."""
        repo = self.bus.repo
        state = fingerprint.mirror_state(str(repo.root), str(repo.git_dir), str(repo.common_dir))
        if state == "disabled":
            return {"changed": 0, "disabled": "tracked"}
        if state == "current":
            return {"changed": 0, "fast": True}
        return None

    # -- refresh --------------------------------------------------------------------------
    def refresh(self, full: bool = False) -> dict[str, Any]:
        fast = None if full else self.fast_path()
        if fast is not None:
            return fast
        with files.locked(self.lock_path):
            return self._refresh_locked(full)

    def _load_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return None
        return data

    def _tracked(self) -> bool:
        res = self.bus.repo.git("ls-files", "-z", "--", layout.BUS_DIR, check=False)
        return bool(res.stdout.strip(b"\0"))

    def _refresh_locked(self, full: bool) -> dict[str, Any]:
        state = None if full else self._load_state()
        if state is not None and state.get("disabled"):
            self.sig_path.write_text("disabled", encoding="utf-8")
            return {"changed": 0, "disabled": state["disabled"]}
        if state is None:
            if self._tracked():
                self._save({"version": STATE_VERSION, "disabled": "tracked"})
                self.sig_path.write_text("disabled", encoding="utf-8")
                return {"changed": 0, "disabled": "tracked"}
            ensure_excluded(self.bus.repo, f"/{layout.BUS_DIR}/")
            state = {
                "version": STATE_VERSION,
                "sig": {},
                "slots": {},
                "heads": {},
                "seqs": {},
                "sizes": {},
                "archive": {},
                "dirs": {},
            }
        now_ns = time.time_ns()
        sig = self.signature() or {}
        self.dest.mkdir(exist_ok=True)
        readme = self.dest / "README.txt"
        if not readme.exists():
            files.write_atomic(readme, README, RO, durable=False)
        changed = 0
        for kind in (*SLOTS, *LOGS):
            if kind in sig and state["sig"].get(kind) == sig[kind] and (self.dest / kind).is_dir():
                continue
            changed += self._slots(kind, state) if kind in SLOTS else self._logs(kind, state)
            racy = kind not in sig or self._racy(sig[kind], now_ns)
            state["sig"][kind] = None if racy else sig[kind]
        self._save(state)
        if sig and all(state["sig"].get(k) == sig[k] for k in sig):
            self.sig_path.write_text(fingerprint.mirror_text(sig), encoding="utf-8")
        else:
            self.sig_path.unlink(missing_ok=True)
        return {"changed": changed, "fast": False}

    def _save(self, state: dict[str, Any]) -> None:
        files.write_atomic(self.state_path, json.dumps(state, sort_keys=True), durable=False)

    # -- claims and assignments -----------------------------------------------------------
    def _slots(self, kind: str, state: dict[str, Any]) -> int:
        """Write the slot files whose version changed, remove the files of slots that are
        gone.  The state keeps the live slots and the archive's marker only, so a refresh
        costs the live slots plus what changed, however many finished slots the archive
        holds; the whole archive is read again only the first time, or when files in the
        folder were added or removed behind the mirror's back."""
        folder = self.dest / kind
        folder.mkdir(exist_ok=True)
        known: dict[str, str] = state["slots"].get(kind, {})
        marks: dict[str, str | None] = state["archive"]
        touched = state["dirs"].get(kind) != _mtime(folder)
        got = self.store.slot_changes(kind, None if touched else marks.get(kind))
        if got is None:
            live = {s.key: s.version for s in self.store.list(kind)}
            marker, archived = None, dict[str, str]()
        else:
            live, marker, archived = got
        wanted = {**{k: v for k, v in archived.items() if k not in live}, **live}
        stale = [k for k, v in wanted.items() if known.get(k) != v or touched]
        if touched:  # the folder changed behind our back: keep what is already right
            present = set(os.listdir(folder))
            stale = [k for k in stale if known.get(k) != wanted[k] or _name(kind, k) not in present]
        changed = self._write_slots(kind, stale)
        for key in set(known) - set(wanted):
            (self.dest / layout.slot_file(kind, key)).unlink(missing_ok=True)
            changed += 1
        state["slots"][kind] = live
        marks[kind] = marker
        state["dirs"][kind] = _mtime(folder)
        return changed

    def _write_slots(self, kind: str, keys: list[str]) -> int:
        """Write the files of `keys`, reading their records one by one, or all in one pass
        when there are many."""
        if not keys:
            return 0
        if len(keys) > MANY:
            wanted = set(keys)
            slots = [s for s in self.store.list(kind) if s.key in wanted]
        else:
            slots = [s for s in (self.store.get(kind, k) for k in keys) if s is not None]
        folder = self.dest / kind
        if len(slots) > MANY and not any(os.scandir(folder)):
            _fill_fresh(folder, kind, slots)  # a first build: thousands of files at once
            return len(slots)
        for slot in slots:
            path = self.dest / layout.slot_file(kind, slot.key)
            files.write_atomic(path, models.doc_text(slot.record), RO, durable=False)
        return len(slots)

    # -- events and messages --------------------------------------------------------------
    @staticmethod
    def _lines(kind: str, entries: list[Entry]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in entries:
            rec = e.record
            line = models.event_line(rec) if kind == "events" else models.message_line(rec)
            for rel in layout.log_files(kind, rec):
                out.setdefault(rel, []).append(line)
        return out

    def _intact(self, kind: str, state: dict[str, Any]) -> bool:
        sizes: dict[str, int] = state["sizes"]
        for rel, size in sizes.items():
            if not rel.startswith(kind + "/"):
                continue
            try:
                if (self.dest / rel).stat().st_size != size:
                    return False
            except OSError:
                return False
        return (self.dest / kind).is_dir()

    def _logs(self, kind: str, state: dict[str, Any]) -> int:
        old = state["heads"].get(kind)
        seqs: dict[str, int] = state["seqs"].setdefault(kind, {})
        if old is None or not self._intact(kind, state):
            return self._rebuild(kind, state)
        entries, new = self.store.since_heads(kind, old)
        if set(old) - set(new) or self._rewritten(entries, seqs):
            return self._rebuild(kind, state)
        for rel, lines in self._lines(kind, entries).items():
            self._append(rel, "".join(lines), state)
        self._note_seqs(entries, seqs)
        state["heads"][kind] = new
        return len(entries)

    @staticmethod
    def _rewritten(entries: list[Entry], seqs: dict[str, int]) -> bool:
        """A chain whose new records do not continue where the mirror stopped was rewritten
        (e.g. re-chained by a sync): its old lines cannot be kept."""
        first: dict[str, int] = {}
        for e in entries:
            seq = e.record.get("seq")
            if isinstance(seq, int) and e.chain not in first:
                first[e.chain] = seq
        return any(c in seqs and s != seqs[c] + 1 for c, s in first.items())

    @staticmethod
    def _note_seqs(entries: list[Entry], seqs: dict[str, int]) -> None:
        for e in entries:
            seq = e.record.get("seq")
            if isinstance(seq, int):
                seqs[e.chain] = max(seq, seqs.get(e.chain, 0))

    def _append(self, rel: str, text: str, state: dict[str, Any]) -> None:
        path = self.dest / rel
        path.parent.mkdir(exist_ok=True)
        if path.exists():
            os.chmod(path, 0o644)
        if text:
            files.append_line(path, text)
        os.chmod(path, RO)
        state["sizes"][rel] = path.stat().st_size

    def _rebuild(self, kind: str, state: dict[str, Any]) -> int:
        index = self.store.index if self.store.use_index else None
        if kind == "events" and index is not None:
            return self._rebuild_streamed(index, state)
        entries, heads = self.store.since_heads(kind, {})
        folder = self.dest / kind
        folder.mkdir(exist_ok=True)
        produced = self._lines(kind, entries)
        sizes = {k: v for k, v in state["sizes"].items() if not k.startswith(kind + "/")}
        for rel, lines in produced.items():
            data = "".join(lines).encode("utf-8")
            files.write_atomic(self.dest / rel, data, RO, durable=False)
            sizes[rel] = len(data)
        for p in folder.glob(layout.FILES[kind]):
            if f"{kind}/{p.name}" not in produced:
                p.unlink()
        state["sizes"] = sizes
        seqs: dict[str, int] = {}
        self._note_seqs(entries, seqs)
        state["seqs"][kind] = seqs
        state["heads"][kind] = heads
        return len(entries)

    def _rebuild_streamed(self, index: Index, state: dict[str, Any]) -> int:
        """events.jsonl written line by line from the index: memory stays flat at any size."""
        heads, seqs, rows = index.snapshot("events")
        path = self.dest / layout.EVENTS_LOG
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        count = 0
        with open(tmp, "w", encoding="utf-8") as fh:
            for text in rows:
                fh.write(models.event_line(json.loads(text)))
                count += 1
        os.chmod(tmp, RO)
        os.replace(tmp, path)
        sizes = {k: v for k, v in state["sizes"].items() if not k.startswith("events/")}
        if count:
            sizes[layout.EVENTS_LOG] = path.stat().st_size
        else:
            path.unlink()
        state["sizes"] = sizes
        state["seqs"]["events"] = seqs
        state["heads"]["events"] = heads
        return count


def _fill_fresh(folder: Path, kind: str, slots: list[Any]) -> None:
    """Write an empty slot folder's files into a private folder beside it, then move that
    folder into place: readers see no folder or a whole one, and each file costs one
    open-write-close instead of an atomic replace of its own."""
    import shutil

    stage = folder.with_name(f".{kind}.{os.getpid()}.tmp")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        for slot in slots:
            name = Path(layout.slot_file(kind, slot.key)).name
            fd = os.open(stage / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, RO)
            try:
                files.write_all(fd, models.doc_text(slot.record).encode("utf-8"))
            finally:
                os.close(fd)
        folder.rmdir()
        os.rename(stage, folder)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        folder.mkdir(exist_ok=True)
        raise


def _mtime(folder: Path) -> int:
    """A folder's mtime: it changes whenever a file is added to it or removed from it."""
    try:
        return folder.stat().st_mtime_ns
    except OSError:
        return 0


def _name(kind: str, key: str) -> str:
    return Path(layout.slot_file(kind, key)).name


def applies(bus: Bus) -> bool:
    return bus.store.files_root is None and policy.mirror_applies(bus.cfg)


def refresh(bus: Bus, full: bool = False) -> dict[str, Any] | None:
    """Refresh the worktree's mirror when the repository uses the git backend; None when
    no mirror applies (dir backend, repobus not set up here, or `repobus.mirror=false`)."""
    if not applies(bus):
        return None
    return Mirror(bus).refresh(full)


def mirror_path(root: Path) -> Path:
    return root / layout.BUS_DIR
