"""The `_bus/` mirror's first fill: thousands of claim files and a whole events log written
at once (a fresh clone's first sync, an events log rebuilt), byte for byte what the one-at-a-time
forms write (`models.doc_text`, `models.event_line`), at a fraction of their cost.

Invariants:
- the bytes are the one rule's: `doc_bytes(rec) == models.doc_text(rec)` and each of
  `event_lines(texts)` is `models.event_line(loads(text))`; the fast forms only re-space a
  text that is already in canonical form (sorted keys, compact, the standard encoder's
  escapes), and anything they cannot prove is canonical takes the one-at-a-time form;
- a fresh slot folder is written beside its place and moved in with one rename: a reader
  sees no folder, an empty one, or a whole one, never half of one; a crash leaves a private
  `.<kind>.<pid>.tmp` folder (and `.<kind>.<pid>.feed.tmp`, a helper's feed) and the empty
  folder: the next fill (under the mirror's lock, so no other fill is running) removes every
  such leftover, and the next refresh fills the folder (the crashed one saved no state);
- many files are created by a helper process (`start_fill`) while the caller goes on; the
  caller moves the folder in (`Fill.finish`) before it saves a state naming the files, and
  a helper that failed or never started leaves the same files to the caller;
- msgspec is imported only here, only for a bulk write: commands that write one file never
  load it.
"""

from __future__ import annotations

import os
from pathlib import Path

from repobus.records import layout, models
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    Named = list[tuple[str, bytes]]  # (file name, content) of each file of a fill

RO = 0o444  # claim and assignment files are the bus's, not the worktree's


def doc_bytes(rec: dict[str, Any]) -> bytes:
    """`models.doc_text(rec)` as bytes: the canonical text re-spaced with indent 2 (the
    standard encoder's indented form is pure Python, about 4x slower)."""
    import msgspec

    try:
        canon = models.canonical(rec)
    except (ValueError, TypeError):  # an infinity or a value canonical JSON refuses
        return models.doc_text(rec).encode("utf-8")
    return msgspec.json.format(canon, indent=2) + b"\n"


def event_lines(texts: Iterable[str | bytes]) -> Iterator[bytes]:
    """Each record text as its `events.jsonl` line (`models.event_line`), in order; a line
    already made (bytes: the index's, store/indexrows.py `line_decoder`) passes as it is."""
    line = _event_line_of()
    return (t if isinstance(t, bytes) else line(t) for t in texts)


def _event_line_of() -> Callable[[str], bytes]:
    """The line of one record text.  A text is re-spaced as it is when it is provably the
    canonical form of what it holds: msgspec reads it with no float (float forms differ
    between encoders), it holds no escape (escapes differ too), and msgspec's sorted compact
    form of what it read is the text itself; then the standard encoder would write the same
    tokens, and only the spacing after `,` and `:` differs.  Anything else is parsed and
    written by the one rule."""
    import msgspec

    def no_float(_: str) -> Any:
        raise ValueError("a float")

    decode = msgspec.json.Decoder(float_hook=no_float).decode
    encode = msgspec.json.Encoder(order="sorted").encode
    respace = msgspec.json.format

    def line(text: str) -> bytes:
        raw = text.encode("utf-8")
        if b"\\" not in raw:
            try:
                same = encode(decode(raw)) == raw
            except (msgspec.MsgspecError, ValueError, TypeError, OverflowError):
                same = False
            if same:
                return respace(raw, indent=0) + b"\n"
        return models.event_line(models.loads(text, "the index")).encode("utf-8")

    return line


class Fill:
    """An empty slot folder being filled: its files are written in a private folder beside
    it, by a helper process when there are many (file creation is the kernel's work, so it
    runs on another core while this process writes the logs), else here and now.  `finish`
    waits for the helper and moves the folder into place."""

    def __init__(self, folder: Path, stage: Path, feed: Path | None, named: Named) -> None:
        self.folder, self.stage, self.feed, self.named = folder, stage, feed, named
        self.proc: subprocess.Popen[bytes] | None = None

    def finish(self) -> int:
        """Wait for the files, then replace the empty folder by the full one (one rename); a
        helper that failed (or could not start) leaves the work to this process, whose own
        error, if any, is the one raised.  How many files were written."""
        import shutil  # only a bulk fill pays for it: every CLI write imports this module

        try:
            if self.feed is not None and not self._helped():
                shutil.rmtree(self.stage, ignore_errors=True)
                self.stage.mkdir()
                _write_files(self.stage, self.named)
            self.folder.rmdir()
            os.rename(self.stage, self.folder)
        except BaseException:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()  # never leave the helper writing into a folder being removed
                self.proc.wait()
            shutil.rmtree(self.stage, ignore_errors=True)
            self.folder.mkdir(exist_ok=True)
            raise
        finally:
            if self.feed is not None:
                self.feed.unlink(missing_ok=True)
        return len(self.named)

    def _helped(self) -> bool:
        if self.proc is None:
            return False
        return self.proc.wait() == 0


HELPER_MIN = 1000  # fewer files are written faster here than a helper process starts
# the helper: os and sys only (-I -S: no site, no environment); its feed is each file's
# name, NUL, size, NUL, content; it writes them into the folder, mode 0444 (RO)
_HELPER = """import os, sys
data = open(sys.argv[2], "rb").read()
dfd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
at = 0
while at < len(data):
    a = data.index(b"\\0", at)
    b = data.index(b"\\0", a + 1)
    end = b + 1 + int(data[a + 1 : b])
    fd = os.open(data[at:a].decode(), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444, dir_fd=dfd)
    try:
        view = memoryview(data)[b + 1 : end]
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    at = end
"""


def start_fill(folder: Path, kind: str, slots: Iterable[Any], helper: bool | None = None) -> Fill:
    """Start writing an empty slot folder's files (`slots`: records with `key` and
    `record`); `helper`: in a helper process (None: when there are HELPER_MIN or more)."""
    import contextlib
    import shutil
    import subprocess
    import sys

    for left in folder.parent.glob(f".{kind}.*.tmp"):  # a crashed fill's (we hold the lock)
        if left.is_dir():
            shutil.rmtree(left, ignore_errors=True)
        else:
            left.unlink(missing_ok=True)
    files_ = [
        (layout.slot_file(kind, s.key).rpartition("/")[2], doc_bytes(s.record)) for s in slots
    ]
    stage = folder.with_name(f".{kind}.{os.getpid()}.tmp")
    stage.mkdir()
    if not (len(files_) >= HELPER_MIN if helper is None else helper):
        fill = Fill(folder, stage, None, files_)
        try:
            _write_files(stage, files_)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        return fill
    feed = folder.with_name(f".{kind}.{os.getpid()}.feed.tmp")
    fill = Fill(folder, stage, feed, files_)
    try:
        feed.write_bytes(b"".join(b"%s\0%d\0%s" % (n.encode(), len(d), d) for n, d in files_))
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        feed.unlink(missing_ok=True)
        raise
    with contextlib.suppress(OSError):  # no helper: finish() writes them here
        fill.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _HELPER, str(stage), str(feed)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return fill


def _write_files(stage: Path, named: Named) -> None:
    """Each file: one open (relative to the folder: no path walk), one write, one close."""
    dfd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name, data in named:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, RO, dir_fd=dfd)
            try:
                files.write_all(fd, data)
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
