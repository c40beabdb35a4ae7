"""Writing git objects in-process, as loose objects, exactly as git would.

Invariant: an object file appears only complete (written to a temporary name, then renamed),
so a process killed at any instant leaves at worst a stray temporary file, never a broken
object.  Used only for SHA-1 repositories; others go through `git hash-object`.
"""

from __future__ import annotations

import os
from pathlib import Path

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def write(objects: Path, kind: str, body: bytes) -> str:
    import hashlib
    import zlib

    data = b"%s %d\x00" % (kind.encode(), len(body)) + body
    oid = hashlib.sha1(data).hexdigest()
    folder = objects / oid[:2]
    path = folder / oid[2:]
    if path.exists():
        return oid
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"tmp_obj_{os.getpid()}_{os.urandom(6).hex()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        try:
            view = memoryview(zlib.compress(data, 1))
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return oid


def commit_body(parent: str | None, who: str, when: int, message: bytes) -> bytes:
    ident = f"{who} <{who}@repobus.invalid> {when} +0000".encode()
    lines = [b"tree " + EMPTY_TREE.encode()]
    if parent:
        lines.append(b"parent " + parent.encode())
    lines.append(b"author " + ident)
    lines.append(b"committer " + ident)
    return b"\n".join(lines) + b"\n\n" + message
