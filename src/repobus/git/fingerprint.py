"""Fingerprints of the ref storage: a few `stat` calls that change whenever a bus ref moves.

The index, the `_bus/` mirror and the lean read path each compare one of these with the one
they were made for; this module is their one definition, with the write generation and the
rule for caches made from a young fingerprint (`provisional`).  Imports only `os` and `time`.
"""

from __future__ import annotations

import os
import time

from repobus.records.layout import LOG_KINDS, ROOT, SLOT_KINDS


def _stat(path: str) -> list[int]:
    """(mtime_ns, size, inode) of `path`; zeros when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return [0, 0, 0]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def file_stat(path: str) -> list[int]:
    """(mtime_ns, size, inode) of `path`, as the `_bus/` mirror records its files."""
    return _stat(path)


def kind_signature(common: str, kind: str) -> tuple[int, ...]:
    """Changes whenever a ref of `kind` moves: two `stat` calls (its loose-ref directory,
    packed-refs), as (mtime_ns, size, inode) each; zeros for a missing one."""
    return (*_stat(os.path.join(common, ROOT, kind)), *_stat(os.path.join(common, "packed-refs")))


def mirror_text(sig: dict[str, list[int]]) -> str:
    """How the `_bus/` mirror records the fingerprint it is current with."""
    return ";".join(f"{k}:" + ",".join(str(n) for n in v) for k, v in sig.items())


def files_text(stats: list[tuple[str, list[int]]]) -> str:
    """How the `_bus/` mirror records the stat its log files and folders were left with
    (paths relative to `_bus/`): a line each."""
    return "\n".join(f"{rel}\t{st[0]},{st[1]},{st[2]}" for rel, st in stats)


def _text(path: str) -> str | None:
    """A small file the mirror writes in the git dir; None when missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except (OSError, ValueError):
        return None


def mirror_files_current(root: str, git_dir: str) -> bool:
    """Whether every log file and folder of the `_bus/` mirror still has the stat the
    mirror left it with (`files_text`): a line appended by hand, or a file added, changes
    one.  One `stat` per file: what it costs to know that nothing was appended."""
    text = _text(os.path.join(git_dir, "repobus-mirror.files"))
    if text is None:
        return False
    if text == "disabled":
        return True  # a tracked `_bus/` (the mirror is off): its files are the repository's
    base = os.path.join(root, "_bus", "")
    for line in text.split("\n"):
        rel, _, want = line.partition("\t")
        try:
            st = os.stat(base + rel)
        except OSError:
            return False
        if f"{st.st_mtime_ns},{st.st_size},{st.st_ino}" != want:
            return False
    return True


def mirror_signature(common: str) -> dict[str, list[int]]:
    """`kind_signature` of every kind, packed-refs looked at once."""
    packed = _stat(os.path.join(common, "packed-refs"))
    return {k: [*_stat(os.path.join(common, ROOT, k)), *packed] for k in (*SLOT_KINDS, *LOG_KINDS)}


def mirror_state(root: str, git_dir: str, common: str) -> str | None:
    """'disabled' (the worktree tracks its own `_bus/`), 'current' (the mirror matches the
    refs, and its log files are as it left them), or None: a refresh must look."""
    saved = _text(os.path.join(git_dir, "repobus-mirror.sig"))
    if saved is None:
        return None
    if saved == "disabled":
        return "disabled"
    if saved.startswith("gen "):  # made from a young fingerprint: `provisional` decides
        head, _, saved = saved.partition("\n")
        made = read_stamp(head)
        if made is None or not provisional(*made, generation(common), time.time_ns()):
            return None
    if saved != mirror_text(mirror_signature(common)):
        return None
    if os.path.isdir(os.path.join(root, "_bus")) and mirror_files_current(root, git_dir):
        return "current"
    return None


def ref_signature(common: str) -> tuple[str, float]:
    """The index's fingerprint of every bus ref, and the newest mtime in it."""
    parts: list[str] = []
    newest = 0.0
    paths = [os.path.join(common, ROOT, k) for k in (*SLOT_KINDS, *LOG_KINDS)]
    for p in (*paths, os.path.join(common, ROOT), os.path.join(common, "packed-refs")):
        try:
            st = os.stat(p)
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{st.st_mtime_ns}.{st.st_size}.{st.st_ino}")
        newest = max(newest, st.st_mtime)
    return "|".join(parts), newest


PROVISIONAL_NS = 2_000_000_000  # how long a cache made from a young fingerprint is used


def provisional(made_for: str, start_ns: int, gen: str, now_ns: int) -> bool:
    """Whether a cache made from a fingerprint younger than the clock's tick (the status
    snapshot a writer patched, a `_bus/` mirror refreshed right after a write) still shows
    the refs: the write generation is the one it was made for - no repobus write since -
    and it is less than PROVISIONAL_NS old (a ref moved by plain git within the same clock
    tick is not counted by the generation: it shows that much later at worst)."""
    return made_for == gen and made_for != "-" and 0 <= now_ns - start_ns < PROVISIONAL_NS


def only_these(before: str, after: str, count: int) -> bool:
    """Whether the write generation went from `before` to `after` by exactly `count` ref
    updates (the ones a thread made itself, gitcmd.COUNTS): no other repobus write between."""
    ino0, _, size0 = before.partition(".")
    ino1, _, size1 = after.partition(".")
    if not (ino0 == ino1 and size0.isdigit() and size1.isdigit()):
        return False
    return int(size1) == int(size0) + count


def stamp(gen: str, start_ns: int) -> str:
    """The line a cache records what it was made for with: `gen <generation> <start ns>`
    (start 0: made from a trusted fingerprint)."""
    return f"gen {gen} {start_ns}"


def read_stamp(line: str) -> tuple[str, int] | None:
    """`stamp`'s generation and start; None when `line` is not one."""
    words = line.split(" ")
    if len(words) != 3 or words[0] != "gen" or not words[2].isdigit():
        return None
    return words[1], int(words[2])


_ROTATE = 1 << 20  # bytes: the generation file starts again (a new inode) past this


def generation_path(common: str) -> str:
    return os.path.join(common, "repobus", "writes")


def generation(common: str) -> str:
    """The write generation: changes with every ref update repobus makes (`bump`), however
    close in time; `-` before the first.  Directory mtimes are coarse (two updates within one
    clock tick can leave `ref_signature` unchanged); this count is exact for repobus's own
    writes, so a snapshot a writer patched can be trusted at once (store/snapshot.py)."""
    try:
        st = os.stat(generation_path(common))
    except OSError:
        return "-"
    return f"{st.st_ino}.{st.st_size}"


def bump(common: str) -> bool:
    """Count one ref update (after it succeeded): one byte appended (O_APPEND: concurrent
    writers never lose one); False when it could not be counted."""
    path = generation_path(common)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except FileNotFoundError:
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return False
    except OSError:
        return False
    try:
        os.write(fd, b".")
        big = os.fstat(fd).st_size > _ROTATE
    except OSError:
        return False
    finally:
        os.close(fd)
    if big:  # a fresh file is a new inode: a new generation all the same
        tmp = f"{path}.{os.getpid()}"
        try:
            with open(tmp, "wb"):
                pass
            os.replace(tmp, path)
        except OSError:
            return True
    return True


def unpushed_path(common: str) -> str:
    """The marker a remote store leaves while this clone holds records the remote lacks."""
    return os.path.join(common, "repobus", "unpushed")
