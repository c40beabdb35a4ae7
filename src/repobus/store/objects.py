"""Writing git objects in-process, as loose objects, exactly as git would.

Invariants:
- an object file appears only complete (written to a temporary name, then renamed), so a
  process killed at any instant leaves at worst a stray temporary file, never a broken object;
- a concurrent `git gc` / `git prune` / `git prune-packed` may remove an empty fan-out
  directory (objects/XX) between our mkdir and our open, or (`--prune=now`) our temporary
  file itself: as git's own writers do, the directory is created again and the write retried,
  a bounded number of times;
- an object that already exists is "freshened" (its mtime set to now), as git does, so an old
  unreferenced copy is not pruned between this write and the ref that will name it.

Used only for SHA-1 repositories; others go through `git hash-object`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
# Each retry follows a directory removal by a concurrent gc: a handful covers any real race.
TRIES = 5


def write(objects: Path, kind: str, body: bytes) -> str:
    import hashlib
    import zlib

    data = b"%s %d\x00" % (kind.encode(), len(body)) + body
    oid = hashlib.sha1(data).hexdigest()
    folder = objects / oid[:2]
    path = folder / oid[2:]
    if not _freshen(path):
        _store(folder, path, zlib.compress(data, 1))
    return oid


def _store(folder: Path, path: Path, packed: bytes) -> None:
    for attempt in range(TRIES):
        try:
            _write_file(folder, path, packed)
            return
        except FileNotFoundError:
            # gc removed the (empty) fan-out directory, or pruned our temporary file: again
            if attempt == TRIES - 1:
                raise
        except OSError:
            if path.exists():  # could not freshen nor rewrite it (read-only, not ours): it is there
                return
            raise


def _freshen(path: Path) -> bool:
    """True when the object exists and now looks new to `git prune` (as git's
    freshen_loose_object does); False when it must be written."""
    try:
        os.utime(path)
        return True
    except OSError:  # absent, or not ours to touch: write a fresh copy, as git does
        return False


def _write_file(folder: Path, path: Path, packed: bytes) -> None:
    # Not Path.mkdir(exist_ok=True): it checks is_dir() after EEXIST, and a gc may remove the
    # directory in between; the open below fails then, and the caller tries again.
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder)
    tmp = folder / f"tmp_obj_{os.getpid()}_{os.urandom(6).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        try:
            view = memoryview(packed)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit_body(parent: str | None, who: str, when: int, message: bytes) -> bytes:
    ident = f"{who} <{who}@repobus.invalid> {when} +0000".encode()
    lines = [b"tree " + EMPTY_TREE.encode()]
    if parent:
        lines.append(b"parent " + parent.encode())
    lines.append(b"author " + ident)
    lines.append(b"committer " + ident)
    return b"\n".join(lines) + b"\n\n" + message
