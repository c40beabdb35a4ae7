"""The log files of the `_bus/` mirror (`events/events.jsonl`, the message threads and the
inboxes): what the mirror wrote in each, and the lines appended after it by hand (the
playbook's step 8 appends "JSONL entries"; playbook/intake.py takes them in).

Invariants:
- each log file has a record of what the mirror wrote in it (`Written`: its size, its line
  count, a sum of its lines' hashes, and the stat it left), kept in the mirror's state;
- a file is *as written* (its stat is the recorded one, or its bytes are), *appended* (it
  starts with exactly the recorded bytes - same size, line count and sum - and has more: the
  tail), or *edited* (anything else: shorter, or a written line changed); a file that exists
  without a record is all tail (a thread started by hand);
- the mirror writes its own lines before a file's tail, never after it, in one write: lines
  appended by hand stay last and unrecorded until they are taken in, fixed or dropped; an
  edited file is rewritten from the bus (its tail with it: nothing after an edit is trusted);
- knowing costs what changed: one `stat` per file; a file is read only when its stat differs
  from the record; writing costs the lines written (the sum is extended, never recomputed);
- log files are mode 0644 (appendable), unlike the claim and assignment files.
"""

from __future__ import annotations

import os
from pathlib import Path

from repobus.records import layout, models
from repobus.store import Entry, files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.store import Store
    from repobus.store.index import Index

    # A file's record in the mirror state: [size, lines, sum (hex), mtime_ns, inode].
    Written = list[Any]

LOGS = layout.LOG_KINDS
MODE = 0o644  # appendable: the playbook tells agents to append JSONL entries
_MOD = 1 << 128
_BATCH = 4096  # lines written (and summed) at once by a streamed rebuild


def line_sum(first: int, data: bytes, total: int = 0) -> int:
    """`total` extended by the lines of `data`, numbered from `first`: a sum of per-line
    hashes (with the line's number, so a reorder or a dropped line changes it), which an
    append extends without reading what came before."""
    import hashlib  # only when lines are written or a changed file is read

    for i, line in enumerate(data.splitlines(keepends=True), first):
        digest = hashlib.blake2b(b"%d:" % i + line, digest_size=16).digest()
        total = (total + int.from_bytes(digest, "big")) % _MOD
    return total


def written(path: Path, before: Written | None, data: bytes) -> Written:
    """The record of `path` once `data` (whole lines) followed what `before` recorded."""
    size, lines, total = (before[0], before[1], int(before[2], 16)) if before else (0, 0, 0)
    total = line_sum(lines, data, total)
    st = path.stat()
    return [size + len(data), lines + data.count(b"\n"), f"{total:x}", st.st_mtime_ns, st.st_ino]


class Look:
    """What a log file holds next to its record: `state` is 'same', 'tail', 'edited' or
    'gone'; `tail` the bytes after the recorded ones; `first` the tail's first line number.
    (Plain classes here: `dataclasses` would cost every command its import.)"""

    __slots__ = ("state", "tail", "first")

    def __init__(self, state: str, tail: bytes = b"", first: int = 1) -> None:
        self.state, self.tail, self.first = state, tail, first


def look(path: Path, rec: Written | None) -> Look:
    try:
        st = path.stat()
    except OSError:
        return Look("gone")
    if rec is not None and (st.st_size, st.st_mtime_ns, st.st_ino) == (rec[0], rec[3], rec[4]):
        return Look("same", first=rec[1] + 1)
    data = path.read_bytes()
    size, lines = (rec[0], rec[1]) if rec else (0, 0)
    if rec is not None and (
        len(data) < size
        or (size and data[size - 1 : size] != b"\n")
        or line_sum(0, data[:size]) != int(rec[2], 16)
    ):
        return Look("edited", first=lines + 1)
    tail = data[size:]
    return Look("tail" if tail else "same", tail, lines + 1)


class Found:
    """What a scan of the log folders found besides what the mirror wrote: the tails
    (file, first line number, bytes), the files edited, the files that are no file of the
    bus."""

    __slots__ = ("tails", "edited", "unknown")

    def __init__(self) -> None:
        self.tails: list[tuple[str, int, bytes]] = []
        self.edited: list[str] = []
        self.unknown: list[str] = []


class Logs:
    """The log files of one worktree's mirror.  `state` is the mirror's saved state
    (views/mirror.py); `keep` is False when it was started afresh (a first build or
    `mirror --rebuild`): then nothing in the folders is known to be a tail, and nothing is kept."""

    def __init__(self, store: Store, dest: Path, keep: bool) -> None:
        self.store, self.dest, self.keep = store, dest, keep

    # -- what is there --------------------------------------------------------------------
    def scan(self, state: dict[str, Any]) -> Found:
        """Every file of the log folders next to its record: one stat each, a read for the
        ones whose stat changed.  A recorded file that is gone is not reported (the next
        refresh writes it again)."""
        found = Found()
        recs: dict[str, Written] = state.get("files", {})
        for kind in LOGS:
            folder = self.dest / kind
            for name in sorted(os.listdir(folder)) if folder.is_dir() else []:
                rel = f"{kind}/{name}"
                if name.startswith(".") or not (folder / name).is_file():
                    continue  # editors' and the mirror's own temporary files
                if layout.place(rel) is None:
                    found.unknown.append(rel)
                    continue
                got = look(folder / name, recs.get(rel))
                if got.state == "edited":
                    found.edited.append(rel)
                elif got.state == "tail":
                    found.tails.append((rel, got.first, got.tail))
        return found

    def settle(self, kind: str, state: dict[str, Any]) -> bool:
        """Whether every recorded file of `kind` still starts with what the mirror wrote
        (a file only touched gets its new stat recorded, so the fast path trusts it again)."""
        if not (self.dest / kind).is_dir():
            return False
        for rel, rec in state["files"].items():
            if not rel.startswith(kind + "/"):
                continue
            got = look(self.dest / rel, rec)
            if got.state in ("edited", "gone"):
                return False
            if got.state == "same" and not got.tail:
                st = (self.dest / rel).stat()
                rec[3], rec[4] = st.st_mtime_ns, st.st_ino
        return True

    def tail_of(self, rel: str, state: dict[str, Any]) -> bytes:
        """The bytes after what the mirror wrote in `rel` (all of a file it never wrote)."""
        if not self.keep:
            return b""
        got = look(self.dest / rel, state["files"].get(rel))
        return got.tail if got.state == "tail" else b""

    # -- writing ----------------------------------------------------------------------------
    @staticmethod
    def lines(kind: str, entries: list[Entry]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for e in entries:
            rec = e.record
            line = models.event_line(rec) if kind == "events" else models.message_line(rec)
            for rel in layout.log_files(kind, rec):
                out.setdefault(rel, []).append(line)
        return out

    def append(self, rel: str, text: str, state: dict[str, Any]) -> None:
        """`text` after what the mirror wrote in `rel` and before its tail, in one write."""
        path = self.dest / rel
        path.parent.mkdir(exist_ok=True)
        rec = state["files"].get(rel)
        tail = self.tail_of(rel, state) if path.exists() else b""
        data = text.encode("utf-8")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, MODE)
        try:
            os.lseek(fd, rec[0] if rec else 0, os.SEEK_SET)
            files.write_all(fd, data + tail)
            if not tail and not rec:
                os.ftruncate(fd, len(data))  # an empty leftover of an unrecorded file
        finally:
            os.close(fd)
        os.chmod(path, MODE)
        state["files"][rel] = written(path, rec, data)

    def put(self, rel: str, data: bytes, tail: bytes, state: dict[str, Any]) -> None:
        """`rel` replaced whole by `data`, its tail kept after it."""
        path = self.dest / rel
        files.write_atomic(path, data + tail, MODE, durable=False)
        state["files"][rel] = written(path, None, data)

    # -- one kind ---------------------------------------------------------------------------
    def update(self, kind: str, state: dict[str, Any]) -> int:
        old = state["heads"].get(kind)
        seqs: dict[str, int] = state["seqs"].setdefault(kind, {})
        if not old or not self.settle(kind, state):
            # nothing of `kind` mirrored yet (a fresh clone's first sync): a rebuild writes the
            # same lines, and for events streams them from the index instead of a `git log`
            return self.rebuild(kind, state)
        entries, new = self.store.since_heads(kind, old)
        if set(old) - set(new) or _rewritten(entries, seqs):
            return self.rebuild(kind, state)
        for rel, lines in self.lines(kind, entries).items():
            self.append(rel, "".join(lines), state)
        _note_seqs(entries, seqs)
        state["heads"][kind] = new
        return len(entries)

    def rebuild(self, kind: str, state: dict[str, Any]) -> int:
        """Every file of `kind` written again from the bus, each tail kept after it (the
        tail of an edited file is not: its lines cannot be told from the edit)."""
        index = self.store.index if self.store.use_index else None
        folder = self.dest / kind
        folder.mkdir(exist_ok=True)
        tails = {}
        for p in folder.glob(layout.FILES[kind]):
            rel = f"{kind}/{p.name}"
            tails[rel] = self.tail_of(rel, state)
        if kind == "events" and index is not None:
            return self._rebuild_streamed(index, state, tails.get(layout.EVENTS_LOG, b""))
        entries, heads = self.store.since_heads(kind, {})
        produced = self.lines(kind, entries)
        state["files"] = {k: v for k, v in state["files"].items() if not k.startswith(kind + "/")}
        for rel in set(produced) | {r for r, t in tails.items() if t}:
            data = "".join(produced.get(rel, [])).encode("utf-8")
            self.put(rel, data, tails.get(rel, b""), state)
        for rel in set(tails) - set(state["files"]):
            (self.dest / rel).unlink(missing_ok=True)
        seqs: dict[str, int] = {}
        _note_seqs(entries, seqs)
        state["seqs"][kind] = seqs
        state["heads"][kind] = heads
        return len(entries)

    def _rebuild_streamed(self, index: Index, state: dict[str, Any], tail: bytes) -> int:
        """events.jsonl written from the index in batches: memory stays flat at any size."""
        from repobus.views.mirrorbulk import event_lines

        heads, seqs, rows = index.snapshot("events", lines=True)
        path = self.dest / layout.EVENTS_LOG
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        count = size = total = 0
        batch: list[bytes] = []
        with open(tmp, "wb") as fh:
            for line in event_lines(rows):
                batch.append(line)
                if len(batch) >= _BATCH:
                    count, size, total = _put_lines(fh, batch, count, size, total)
            count, size, total = _put_lines(fh, batch, count, size, total)
            fh.write(tail)
        os.chmod(tmp, MODE)
        os.replace(tmp, path)
        recs = {k: v for k, v in state["files"].items() if not k.startswith("events/")}
        if count or tail:
            st = path.stat()
            recs[layout.EVENTS_LOG] = [size, count, f"{total:x}", st.st_mtime_ns, st.st_ino]
        else:
            path.unlink()
        state["files"] = recs
        state["seqs"]["events"] = seqs
        state["heads"]["events"] = heads
        return count

    def drop(self, rel: str, raw: bytes, state: dict[str, Any]) -> bool:
        """Remove `raw`, the first line of `rel`'s tail, once it is on the bus; False when
        the tail no longer starts with it."""
        tail = self.tail_of(rel, state)
        if not tail.startswith(raw):
            return False
        rec = state["files"].get(rel)
        start = rec[0] if rec else 0
        fd = os.open(self.dest / rel, os.O_WRONLY)
        try:
            os.lseek(fd, start, os.SEEK_SET)
            files.write_all(fd, tail[len(raw) :])
            os.ftruncate(fd, start + len(tail) - len(raw))
        finally:
            os.close(fd)
        return True


def _put_lines(
    fh: Any, batch: list[bytes], count: int, size: int, total: int
) -> tuple[int, int, int]:
    """Write `batch` (whole lines, emptied) after `count` lines of `size` bytes summing to
    `total`; the new count, size and sum."""
    data = b"".join(batch)
    batch.clear()
    fh.write(data)
    return count + data.count(b"\n"), size + len(data), line_sum(count, data, total)


def _rewritten(entries: list[Entry], seqs: dict[str, int]) -> bool:
    """A chain whose new records do not continue where the mirror stopped was rewritten
    (e.g. re-chained by a sync): its old lines cannot be kept."""
    first: dict[str, int] = {}
    for e in entries:
        seq = e.record.get("seq")
        if isinstance(seq, int) and e.chain not in first:
            first[e.chain] = seq
    return any(c in seqs and s != seqs[c] + 1 for c, s in first.items())


def _note_seqs(entries: list[Entry], seqs: dict[str, int]) -> None:
    for e in entries:
        seq = e.record.get("seq")
        if isinstance(seq, int):
            seqs[e.chain] = max(seq, seqs.get(e.chain, 0))
