"""The dir backend: `_bus/` in the working tree, exactly as the original scripts kept it.

For teams that commit the bus through pull requests.  Invariants, on one filesystem:
- a claim or assignment file is replaced atomically (temporary file, fsync, rename) under an
  exclusive `flock` on its sidecar lock, after checking the version read (compare-and-swap);
- a log line is appended whole with one `write` under the log's lock, then fsynced;
- each version of a slot is also appended to `_bus/history/<kind>/<key>.jsonl`, the chain
  that `verify` checks (the current file may be one version ahead after a crash; the next
  write of that slot heals the history);
- a record lacking one of its required fields, or holding a field of the wrong type
  (records/required.py), is refused before anything is written: every file written here
  passes `check`'s field rules; every record read has its fields' types checked;
- which file holds what is records/layout.py, the layout `check` and `export` use too.
Lock files live in the worktree's git dir (`repobus-locks/`), never in the working tree; the
kernel drops a dead process's flock, so a crash leaves no lock held.
"""

from __future__ import annotations

import builtins
import os
from contextlib import contextmanager
from pathlib import Path

from repobus.errors import CasFailed, CorruptError
from repobus.git.config import Config
from repobus.git.gitcmd import Repo
from repobus.records import anchor, layout, models, required
from repobus.records.times import parse_or_none
from repobus.store import chains, files
from repobus.store.base import BaseStore, Entry, Problem, Slot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

_CHUNK = 65536


def read_lines_reverse(path: Path) -> Iterator[tuple[int, bytes]]:
    """(byte offset, line) from the end of a file backwards, without reading it whole."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        end = os.fstat(fd).st_size
        buf = b""
        pos = end
        while pos > 0:
            step = min(_CHUNK, pos)
            pos -= step
            buf = os.pread(fd, step, pos) + buf
            lines = buf.split(b"\n")
            buf = lines[0]
            offset = pos + len(buf) + 1
            tail = []
            for ln in lines[1:]:
                tail.append((offset, ln))
                offset += len(ln) + 1
            for off, ln in reversed(tail):
                if ln.strip():
                    yield off, ln
        if buf.strip():
            yield 0, buf
    finally:
        os.close(fd)


class DirStore(BaseStore):
    kind = "dir"

    def __init__(self, repo: Repo, cfg: Config, base: Path | None = None) -> None:
        super().__init__()
        self.repo = repo
        self.cfg = cfg
        self.base = base or repo.root / layout.BUS_DIR

    @property
    def files_root(self) -> Path:
        return self.base

    def where(self, kind: str, key: str) -> str:
        return layout.bus_path(layout.slot_file(kind, key))

    # -- files and locks -----------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.repo.root))
        except ValueError:
            return str(path)

    def _slot_path(self, kind: str, key: str) -> Path:
        return self.base / layout.slot_file(kind, key)

    def _history_path(self, kind: str, key: str) -> Path:
        return self.base / layout.history_file(kind, key)

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        with files.locked(self.repo.git_dir / "repobus-locks" / f"{name}.lock"):
            yield

    def _read_doc(self, path: Path, kind: str) -> dict[str, Any] | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return _record(raw, self._rel(path), kind)

    @staticmethod
    def _write_atomic(path: Path, text: str) -> None:
        files.write_atomic(path, text)

    @staticmethod
    def _append_line(path: Path, line: str) -> int:
        return files.append_whole(path, line.encode("utf-8"))

    def _last(self, path: Path) -> dict[str, Any] | None:
        for _, line in read_lines_reverse(path):
            data = models.loads(line, self._rel(path))
            return data if isinstance(data, dict) else None
        return None

    # -- slots ---------------------------------------------------------------------------
    def get(self, kind: str, key: str) -> Slot | None:
        rec = self._read_doc(self._slot_path(kind, key), kind)
        return None if rec is None else Slot(kind, key, rec, models.record_hash(rec))

    def list(self, kind: str) -> builtins.list[Slot]:
        folder = self.base / kind
        if not folder.is_dir():
            return []
        out = []
        for p in sorted(folder.glob(layout.FILES[kind])):
            rec = self._read_doc(p, kind)
            if rec is not None:
                out.append(Slot(kind, p.stem, rec, models.record_hash(rec)))
        return out

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        _refuse_invalid(kind, layout.slot_file(kind, key), record)
        path = self._slot_path(kind, key)
        hist = self._history_path(kind, key)
        with self._lock(f"{kind}-{key}"):
            cur = self._read_doc(path, kind)
            if (models.record_hash(cur) if cur else None) != (expect.version if expect else None):
                raise CasFailed(str(path))
            last = self._last(hist)
            if cur is not None and (
                last is None or models.record_hash(last) != models.record_hash(cur)
            ):
                self._append_line(hist, models.canonical(cur).decode() + "\n")  # heal
            rec = chains.linked(record, cur)
            self._write_atomic(path, models.doc_text(rec))
            self._append_line(hist, models.canonical(rec).decode() + "\n")
        return Slot(kind, key, rec, models.record_hash(rec))

    def history(self, kind: str, key: str) -> builtins.list[Slot]:
        path = self._history_path(kind, key)
        where = layout.bus_path(layout.history_file(kind, key))
        out = []
        if path.exists():
            for n, line in enumerate(path.read_bytes().splitlines(), 1):
                if line.strip():
                    rec = _record(line, f"{where} line {n}", kind)
                    out.append(Slot(kind, key, rec, models.record_hash(rec)))
        cur = self.get(kind, key)
        if cur is not None and (not out or out[-1].version != cur.version):
            out.append(cur)
        return out

    # -- logs ----------------------------------------------------------------------------
    def append(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot | None = None
    ) -> Entry:
        rels = layout.log_files(kind, record)
        _refuse_invalid(kind, rels[0], record)
        paths = [self.base / rel for rel in rels]
        names = [f"log-{p.name}" for p in paths]
        if guard is not None:
            names.insert(0, f"{guard.kind}-{guard.key}")
        with _many(self, names):
            if guard is not None:
                now = self.get(guard.kind, guard.key)
                if now is None or now.version != guard.version:
                    raise CasFailed(guard.key)
            entry: Entry | None = None
            for path in paths:
                rec = dict(record)
                rec.pop("prev_hash", None)
                last = self._last(path)
                if last is not None:
                    rec["prev_hash"] = models.record_hash(last)
                    s = last.get("seq")
                    valid = isinstance(s, int) and not isinstance(s, bool)
                    rec["seq"] = models.next_seq(last, 0 if valid else self._count(path))
                    if not valid and last.get("prev_hash") is None:  # legacy lines before
                        rec["anchor"] = anchor.of_lines([x for _, x in _lines(path)])
                else:
                    rec["seq"] = 1
                line = models.event_line(rec) if kind == "events" else models.message_line(rec)
                off = self._append_line(path, line)
                entry = entry or Entry(rec, str(path.relative_to(self.base)), str(off))
        assert entry is not None
        return entry

    @staticmethod
    def _count(path: Path) -> int:
        with path.open("rb") as fh:
            return sum(1 for line in fh if line.strip())

    def tail(
        self,
        kind: str,
        limit: int | None = None,
        since: int | None = None,
        writers: Iterable[str] | None = None,
    ) -> builtins.list[Entry]:
        if kind != "events":
            return self._all_messages(limit, since, writers)
        path = self.base / layout.EVENTS_LOG
        wanted = set(writers) if writers is not None else None
        out: builtins.list[Entry] = []
        for off, line in read_lines_reverse(path):
            rec = _record(line, layout.bus_path(layout.EVENTS_LOG), kind)
            ts = parse_or_none(rec.get("ts"))
            if since is not None and ts is not None and ts < since - 300:
                break  # appended in time order; 5 min of slack for clock disorder
            if since is not None and (ts is None or ts < since):
                continue
            if wanted is not None and rec.get("agent_id") not in wanted:
                continue
            out.append(Entry(rec, layout.EVENTS_LOG, str(off)))
            if limit is not None and len(out) >= limit:
                break
        out.reverse()
        return out

    def _all_messages(
        self, limit: int | None, since: int | None, writers: Iterable[str] | None
    ) -> builtins.list[Entry]:
        """Every message of every file: the threads (lanes) first, then the inboxes, whose
        lines are the inbox copies of thread messages (skipped: the message is read once,
        from its thread) or messages kept only there (read from the inbox, its file)."""
        wanted = set(writers) if writers is not None else None
        out = []
        folder = self.base / "messages"
        paths = sorted(folder.glob(layout.FILES["messages"])) if folder.is_dir() else []
        in_threads: set[bytes] = set()
        for path in sorted(paths, key=lambda p: layout.is_inbox(p.stem)):
            inbox = layout.is_inbox(path.stem)
            for n, rec in self._lines_of(path):
                same = models.canonical(layout.message_identity(rec))
                if inbox and same in in_threads:
                    continue  # the inbox copy of a thread message
                if not inbox:
                    in_threads.add(same)
                ts = parse_or_none(rec.get("ts"))
                if since is not None and (ts is None or ts < since):
                    continue
                if wanted is not None and rec.get("from") not in wanted:
                    continue
                out.append(Entry(rec, layout.thread_file(path.stem), str(n)))
        out.sort(key=lambda e: str(e.record.get("ts", "")))
        return out[-limit:] if limit is not None else out

    def _lines_of(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, message) of each record line of a message file."""
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                yield n, _record(line, f"{self._rel(path)} line {n}", "messages")

    def heads(self, kind: str) -> dict[str, str]:
        folder = self.base / kind
        if not folder.is_dir():
            return {}
        return {p.name: str(p.stat().st_size) for p in sorted(folder.glob(layout.FILES[kind]))}

    def signature(self, kind: str) -> tuple[int, ...]:
        log = self.base / layout.EVENTS_LOG if kind == "events" else None  # the one-file log
        return (*_stat3(self.base / kind), *_stat3(log))

    def since_heads(
        self, kind: str, old: dict[str, str]
    ) -> tuple[builtins.list[Entry], dict[str, str]]:
        new = self.heads(kind)
        out: builtins.list[Entry] = []
        for name, size in new.items():
            start = int(old.get(name, "0"))
            if int(size) < start:
                start = 0  # truncated or replaced (a pull): read it again
            if int(size) == start:
                continue
            path = self.base / kind / name
            with path.open("rb") as fh:
                fh.seek(start)
                data = fh.read(int(size) - start)
            cut = data.rfind(b"\n") + 1
            new[name] = str(start + cut)
            off = start
            for line in data[:cut].split(b"\n"):
                if line.strip():
                    rec = _record(line, layout.bus_path(f"{kind}/{name}"), kind)
                    out.append(Entry(rec, f"{kind}/{name}", str(off)))
                off += len(line) + 1
        return out, new

    # -- verify --------------------------------------------------------------------------
    def verify(self) -> Iterator[Problem]:
        for kind in layout.SLOT_KINDS:
            folder = self.base / kind
            for p in sorted(folder.glob(layout.FILES[kind])) if folder.is_dir() else []:
                versions = [
                    (f"version {i}", s.record, "")
                    for i, s in enumerate(self.history(kind, p.stem), 1)
                ]
                yield from chains.chain_problems(layout.bus_path(f"{kind}/{p.name}"), versions)
        for kind in layout.LOG_KINDS:
            folder = self.base / kind
            for p in sorted(folder.glob(layout.FILES[kind])) if folder.is_dir() else []:
                items: builtins.list[tuple[str, dict[str, Any] | None, str]] = []
                data = p.read_bytes()
                for n, line in enumerate(data.splitlines(), 1):
                    if not line.strip():
                        continue
                    try:
                        items.append((f"line {n}", models.loads(line, f"line {n}"), ""))
                    except CorruptError as exc:
                        items.append((f"line {n}", None, exc.message))
                yield from chains.chain_problems(layout.bus_path(f"{kind}/{p.name}"), items)
                held = anchor.carried(anchor.record_lines(data), [r for _, r, _ in items])
                if held is not None:  # legacy lines edited or dropped after the anchor
                    yield Problem(layout.bus_path(f"{kind}/{p.name}"), *held)


def _lines(path: Path) -> builtins.list[tuple[int, bytes]]:
    return anchor.record_lines(path.read_bytes())


def _stat3(path: Path | None) -> tuple[int, int, int]:
    """mtime, size and inode of `path`; zeros when there is none."""
    try:
        st = path.stat() if path is not None else None
    except OSError:
        st = None
    return (st.st_mtime_ns, st.st_size, st.st_ino) if st is not None else (0, 0, 0)


def _refuse_invalid(kind: str, rel: str, record: dict[str, Any]) -> None:
    """A record lacking a required field or holding a wrong type is never written: `check`
    would refuse the file.  It is judged as it will be written: linked (`seq`, `prev_hash`)."""
    required.on_write(required.RECORD_OF[kind], chains.linked(record, None), layout.bus_path(rel))


def _record(line: bytes, where: str, kind: str) -> dict[str, Any]:
    """One stored record: a JSON object whose fields have their types, or the file is named
    as damaged."""
    rec = models.loads(line, where)
    if not isinstance(rec, dict):
        raise CorruptError(f"Invalid JSON in {where}: not a JSON object")
    return required.on_read(required.RECORD_OF[kind], rec, where)


@contextmanager
def _many(store: DirStore, names: builtins.list[str]) -> Iterator[None]:
    """Take several locks in a fixed order (no deadlock between writers)."""
    if not names:
        yield
        return
    ordered = sorted(set(names))
    with store._lock(ordered[0]), _many(store, ordered[1:]):
        yield
