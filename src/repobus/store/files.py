"""Plain files written safely: whole-file atomic replace, whole-line appends, advisory locks.

Invariants: a reader never sees a half-written document (temporary file, fsync, rename); a
line is appended with one `write` on an O_APPEND descriptor, so concurrent appenders never
interleave inside a line; a read-modify-write runs under an exclusive `flock`, which the
kernel drops when its holder dies.
"""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextmanager
def locked_within(lock_path: Path, wait: float, shared: bool = False) -> Iterator[bool]:
    """A flock on `lock_path` (exclusive, or `shared`), waited for at most `wait` seconds
    (0: one try); yields whether it is held.  A wait blocks in the kernel, in a helper
    thread while this one waits on an event, so it costs no CPU; a lock given up on is never
    left held (the helper drops it the moment it gets it).  The kernel drops a lock whose
    holder dies."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        got = _blocking(lock_path, mode, wait) if wait > 0 else None
        if got is None:
            yield False
            return
        fd = got
    try:
        yield True
    finally:
        os.close(fd)  # closing the only descriptor of the open file drops its flock


def _blocking(path: Path, mode: int, wait: float) -> int | None:
    """The descriptor holding `mode` on `path` once a helper thread got it within `wait`
    seconds; None when time ran out (the helper then drops it as soon as it gets it)."""
    import threading

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    done = threading.Event()
    guard = threading.Lock()
    state = {"abandoned": False, "failed": False}

    def take() -> None:
        try:
            fcntl.flock(fd, mode)
        except OSError:
            state["failed"] = True
        with guard:
            if state["abandoned"]:
                os.close(fd)  # the waiter left: never keep a lock nobody uses
                return
            done.set()

    threading.Thread(target=take, name="repobus-flock", daemon=True).start()
    done.wait(wait)
    with guard:
        if done.is_set() and not state["failed"]:
            return fd
        state["abandoned"] = True
        if done.is_set():  # the helper failed: nothing held, the descriptor is ours to close
            os.close(fd)
    return None


def write_all(fd: int, raw: bytes) -> None:
    """os.write until every byte is written (a full disk gives short writes, then ENOSPC)."""
    view = memoryview(raw)
    while view:
        n = os.write(fd, view)
        if n <= 0:
            raise OSError(28, "No space left on device")
        view = view[n:]


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` whole.  `durable=False` skips the fsync, for derived files (the
    mirror) that are rebuilt from the bus when lost.  On failure nothing is left behind."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            write_all(fd, raw)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_whole(path: Path, data: bytes, durable: bool = True) -> int:
    """Append `data` as one unit and return the offset it starts at.  A failed append (a
    full disk) is cut back off, so the file never keeps half a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        offset = os.fstat(fd).st_size
        try:
            write_all(fd, data)
            if durable:
                os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, offset)
            raise
    finally:
        os.close(fd)
    return offset


def create_exclusive(path: Path, data: str) -> None:
    """Write a new file; FileExistsError if it exists (nothing is written then)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def create_numbered(folder: Path, stem: str, suffix: str, data: str) -> Path:
    """Write a new file `stem.suffix` in `folder`, or `stem-2.suffix`, `stem-3.suffix`...
    when taken (receipts written in the same second)."""
    folder.mkdir(parents=True, exist_ok=True)  # a file in its place: FileExistsError naming it
    for n in range(1, 1000):
        path = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            create_exclusive(path, data)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(17, "File exists (999 of this name)", str(folder / f"{stem}{suffix}"))


def append_line(path: Path, line: str) -> None:
    if not line.endswith("\n"):
        line += "\n"
    append_whole(path, line.encode("utf-8"), durable=False)


def read_text(path: Path) -> str | None:
    """A small file's text; None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None


def write_small(path: Path, text: str) -> None:
    """Replace a small cache file whole (a reader sees the old text or the new); a failure
    leaves it as it was - whoever reads it must cope with an old value."""
    import contextlib

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text, durable=False)
