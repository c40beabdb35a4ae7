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
  `.<kind>.<pid>.tmp` folder and the empty folder: the next fill (under the mirror's lock,
  so no other fill is running) removes every such leftover, and the next refresh fills the
  folder (the crashed one saved no state);
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
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

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


def event_lines(texts: Iterable[str]) -> Iterator[bytes]:
    """Each record text as its `events.jsonl` line (`models.event_line`), in order."""
    return map(_event_line_of(), texts)


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


def fill_fresh(folder: Path, kind: str, slots: Iterable[Any]) -> int:
    """Write an empty slot folder's files (`slots`: records with `key` and `record`) into a
    private folder beside it, then move that folder into place; how many were written.
    Each file costs one open (relative to the folder: no path walk), one write, one close."""
    import shutil

    for left in folder.parent.glob(f".{kind}.*.tmp"):  # a crashed fill's (we hold the lock)
        shutil.rmtree(left, ignore_errors=True)
    stage = folder.with_name(f".{kind}.{os.getpid()}.tmp")
    stage.mkdir()
    count = 0
    try:
        dfd = os.open(stage, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for slot in slots:
                name = layout.slot_file(kind, slot.key).rpartition("/")[2]
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, RO, dir_fd=dfd)
                try:
                    files.write_all(fd, doc_bytes(slot.record))
                finally:
                    os.close(fd)
                count += 1
        finally:
            os.close(dfd)
        folder.rmdir()
        os.rename(stage, folder)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        folder.mkdir(exist_ok=True)
        raise
    return count
