"""The worktree's `_bus/` mirror of the git backend (the playbook's step 4 reads
`_bus/claims/`, `_bus/messages/`, `_bus/events/` directly).

Invariants:
- incremental: the mirrored chain heads are remembered in the worktree's git dir; a refresh
  writes only the claim/assignment files whose version changed and appends only the new log
  lines (one `write` per file); a log file is rewritten whole only when it no longer starts
  with what the mirror wrote (someone edited or truncated it) or a chain was rewritten;
- a first fill (an empty folder, a log kind with nothing mirrored yet) is written in bulk,
  the same bytes (views/mirrorbulk.py): a fresh clone's first sync costs the records, not a
  second read of them from git;
- cheap when nothing changed: a fingerprint of the ref directories (a few `stat` calls) and
  of the log files and their folders (one `stat` each) is compared first; a fingerprint
  younger than RACY_NS is not trusted (file-time granularity), so a change landing in the
  same clock tick is never missed;
- the mirror is the bus's, not a second bus: claim and assignment files are mode 0444; log
  files are appendable (0644) because the playbook appends JSONL entries there - lines
  appended after what the mirror wrote are kept last, never overwritten, until
  playbook/intake.py takes them in (views/mirrorlog.py); `_bus/` is listed in
  `.git/info/exclude`;
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
from repobus.store import files
from repobus.views import mirrorbulk
from repobus.views.mirrorlog import Found, Logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SLOTS = layout.SLOT_KINDS
LOGS = layout.LOG_KINDS
RACY_NS = 500_000_000  # file times are coarse: a younger fingerprint is not trusted
MANY = 16  # more moved slots than this are read in one pass
STATE_VERSION = 3  # 2: slots keep the live ones and the archive marker; 3: log file records
README = (
    "This directory is a mirror of the repobus git backend (refs/repobus/), refreshed by "
    "every repobus command.\nWrite with repobus (or the tools/agent shims). Lines appended "
    "to events/events.jsonl or messages/*.jsonl are taken in by the next repobus command "
    "(or refused, naming the line); edits to existing lines are refused and undone.\n"
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
        self.files_path = gd / "repobus-mirror.files"
        self.lock_path = gd / "repobus-mirror.lock"
        self._settle = False
        self._fills: list[tuple[str, mirrorbulk.Fill]] = []  # slot folders being filled

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
    def refresh(self, full: bool = False, settle: bool = False) -> dict[str, Any]:
        """Bring the mirror up to the bus.  The log files of kinds whose refs did not move
        are looked at only with `settle` (intake restoring an edited file); a kind that
        moved always is, before anything is appended to it."""
        fast = None if full else self.fast_path()
        if fast is not None:
            return fast
        with files.locked(self.lock_path):
            self._settle = settle
            waiting = self._waiting() if full else []
            res = self._refresh_locked(full)
            for rel, tail in waiting:  # a rebuild keeps lines appended by hand, still last
                with open(self.dest / rel, "ab") as fh:
                    fh.write(tail)
            return res

    def _waiting(self) -> list[tuple[str, bytes]]:
        """The lines appended by hand after what the mirror wrote, per log file, before a
        rebuild starts the files afresh (they are not on the bus yet: intake takes them in,
        or refuses them naming the line, at the next command)."""
        state = self._load_state()
        if state is None or state.get("disabled"):
            return []
        return [(rel, tail) for rel, _, tail in Logs(self.store, self.dest, True).scan(state).tails]

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
            self.files_path.write_text("disabled", encoding="utf-8")
            return {"changed": 0, "disabled": state["disabled"]}
        logs = Logs(self.store, self.dest, keep=state is not None)
        if state is None:
            if self._tracked():
                self._save({"version": STATE_VERSION, "disabled": "tracked"})
                self.sig_path.write_text("disabled", encoding="utf-8")
                self.files_path.write_text("disabled", encoding="utf-8")
                return {"changed": 0, "disabled": "tracked"}
            ensure_excluded(self.bus.repo, f"/{layout.BUS_DIR}/")
            state = {"version": STATE_VERSION, "sig": {}, "slots": {}, "heads": {}, "seqs": {}}
            state.update(files={}, archive={}, dirs={})
        now_ns = time.time_ns()
        gen = fingerprint.generation(str(self.bus.repo.common_dir))  # before the refs are read
        sig = self.signature() or {}
        self.dest.mkdir(exist_ok=True)
        readme = self.dest / "README.txt"
        if not readme.exists():
            files.write_atomic(readme, README, RO, durable=False)
        changed = 0
        try:
            for kind in (*SLOTS, *LOGS):
                if self._current(kind, sig, state, logs):
                    continue
                changed += self._slots(kind, state) if kind in SLOTS else logs.update(kind, state)
                racy = kind not in sig or self._racy(sig[kind], now_ns)
                state["sig"][kind] = None if racy else sig[kind]
        finally:
            self._finish_fills(state)
        self._save(state)
        self._save_sig(sig, state, (gen, now_ns))
        return {"changed": changed, "fast": False}

    def _current(
        self, kind: str, sig: dict[str, list[int]], state: dict[str, Any], logs: Logs
    ) -> bool:
        """Whether `kind` needs no refresh: its refs did not move, and (a log kind) its files
        still start with what the mirror wrote."""
        if kind not in sig or state["sig"].get(kind) != sig[kind]:
            return False
        if not (self.dest / kind).is_dir():
            return False
        return kind in SLOTS or not self._settle or logs.settle(kind, state)

    def _save_sig(
        self, sig: dict[str, list[int]], state: dict[str, Any], made: tuple[str, int]
    ) -> None:
        """The fingerprints the fast path compares: the refs' (when trusted), and the stat
        each log file was left with (a file holding lines appended by hand never matches it)
        and the log folders' (a file added by hand changes its folder).  A folder's time is
        trusted even when young: a file added by hand within the clock tick that ended a
        refresh is the one case it misses, and `check`, or the next ref that moves, finds it."""
        folders = [(k, fingerprint.file_stat(str(self.dest / k))) for k in LOGS]
        recorded = [(rel, [r[3], r[0], r[4]]) for rel, r in sorted(state["files"].items())]
        if self._strangers(state):  # a file the mirror never wrote: intake must look again
            self.files_path.unlink(missing_ok=True)
        else:
            text = fingerprint.files_text([*folders, *recorded])
            if _read_text(self.files_path) != text:  # most writes touch no log file
                files.write_atomic(self.files_path, text, durable=False)
        if sig and all(state["sig"].get(k) == sig[k] for k in sig):
            self.sig_path.write_text(fingerprint.mirror_text(sig), encoding="utf-8")
        elif sig and made[0] == fingerprint.generation(str(self.bus.repo.common_dir)):
            # young refs, read in this refresh, and no repobus write since: the fast path may
            # trust it for a moment (the one rule: fingerprint.provisional)
            head = fingerprint.stamp(*made)
            self.sig_path.write_text(f"{head}\n{fingerprint.mirror_text(sig)}", encoding="utf-8")
        else:
            self.sig_path.unlink(missing_ok=True)

    def _strangers(self, state: dict[str, Any]) -> bool:
        """Whether the log folders hold a file the mirror did not write (started by hand)."""
        for kind in LOGS:
            folder = self.dest / kind
            names = os.listdir(folder) if folder.is_dir() else []
            if any(n[0] != "." and f"{kind}/{n}" not in state["files"] for n in names):
                return True
        return False

    # -- lines appended by hand (playbook/intake.py) --------------------------------------
    def files_as_left(self) -> bool:
        """Whether the log files are as the last refresh left them (nothing appended)."""
        repo = self.bus.repo
        return fingerprint.mirror_files_current(str(repo.root), str(repo.git_dir))

    def scan(self) -> Found:
        """The lines appended by hand to the log files, files edited, files that are no
        file of the bus; nothing when the mirror was never written here."""
        state = self._load_state()
        if state is None or state.get("disabled"):
            return Found()
        return Logs(self.store, self.dest, keep=True).scan(state)

    def drop(self, rel: str, raw: bytes) -> bool:
        """Remove `raw`, the first line appended by hand to `rel`, now that it is on the bus."""
        with files.locked(self.lock_path):
            state = self._load_state()
            return state is not None and Logs(self.store, self.dest, True).drop(rel, raw, state)

    def restore(self, rels: list[str]) -> dict[str, int]:
        """Write the edited files `rels` again from the bus; the first line each edit
        changed (1-based), by the file's content before and after."""
        before = {rel: _read_lines(self.dest / rel) for rel in rels}
        self.refresh(settle=True)
        return {
            rel: _first_change(old, _read_lines(self.dest / rel)) for rel, old in before.items()
        }

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

    def _finish_fills(self, state: dict[str, Any]) -> None:
        """Wait for the slot folders being filled and move each into place, before the state
        that names their files is saved; the folder's time is the full folder's."""
        fills, self._fills = self._fills, []
        failed: BaseException | None = None
        for kind, fill in fills:  # each one, even after another failed: no helper left behind
            try:
                fill.finish()
                state["dirs"][kind] = _mtime(self.dest / kind)
            except BaseException as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

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
            # a first fill: thousands at once, written while the logs are (_finish_fills)
            self._fills.append((kind, mirrorbulk.start_fill(folder, kind, slots)))
            return len(slots)
        for slot in slots:
            path = self.dest / layout.slot_file(kind, slot.key)
            files.write_atomic(path, models.doc_text(slot.record), RO, durable=False)
        return len(slots)


def _first_change(old: list[bytes], new: list[bytes]) -> int:
    """The first line (1-based) where `old` and `new` differ; 0 when they do not."""
    if old == new:
        return 0
    pairs = zip(old, new, strict=False)
    return next((i for i, (a, b) in enumerate(pairs, 1) if a != b), min(len(old), len(new)) + 1)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None


def _read_lines(path: Path) -> list[bytes]:
    try:
        return path.read_bytes().splitlines()
    except OSError:
        return []


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
