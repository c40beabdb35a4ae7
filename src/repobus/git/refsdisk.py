"""Reading refs from git's files backend without starting git: loose ref files under the common
dir, then `packed-refs` (a loose file wins, as in git).

Each answer is either certain or "unsure" (None / False), and the caller then asks git: a file
that cannot be read, a symbolic ref, a name that is not a ref file, a lock git holds on
packed-refs, more loose refs than `MOST`.  A ref moved or created just after a read is the
caller's race to lose, exactly as after `git for-each-ref`: every write that depends on a read
is a compare-and-swap.  Imports only `os`.
"""

from __future__ import annotations

import os

MOST = 64  # loose refs read in Python at most: past this, one `for-each-ref` is cheaper
_HEX = frozenset("0123456789abcdef")


def _oid(text: str) -> str | None:
    oid = text.strip()
    return oid if len(oid) in (40, 64) and set(oid) <= _HEX else None


def _packed(common: str) -> bytes | None:
    """packed-refs with a newline on each side; b"\\n" when there is none; None: unsure."""
    try:
        with open(os.path.join(common, "packed-refs"), "rb") as fh:
            return b"\n" + fh.read() + b"\n"
    except FileNotFoundError:
        return b"\n"
    except OSError:
        return None


def tip(common: str, ref: str) -> str | None:
    """`ref`'s commit from the ref files; None when there is none or when unsure.  Only a
    hint: whatever uses it is verified by a transaction or a lease."""
    try:
        with open(os.path.join(common, ref), encoding="ascii") as fh:
            return _oid(fh.read())
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (OSError, ValueError):
        return None
    packed = _packed(common)
    at = -1 if packed is None else packed.find(b" " + ref.encode() + b"\n")
    if packed is None or at < 0:
        return None
    return _oid(packed[packed.rfind(b"\n", 0, at) + 1 : at].decode("ascii", "replace"))


def absent(common: str, ref: str) -> bool:
    """True only when git would find no ref `ref`: no loose ref file and no packed-refs line
    for it.  False whenever unsure (a file that cannot be read, a directory in the way)."""
    if not os.path.isdir(common) or os.path.lexists(os.path.join(common, ref)):
        return False
    packed = _packed(common)
    return packed is not None and b" " + ref.encode() + b"\n" not in packed


def tips_under(common: str, *patterns: str) -> dict[str, str] | None:
    """Every ref `git for-each-ref PATTERN...` would list (a pattern matches a ref equal to it
    or under it as a folder), with its commit; None when unsure or when more than MOST loose
    refs would have to be read."""
    packed = _packed(common)
    if packed is None or os.path.exists(os.path.join(common, "packed-refs.lock")):
        return None  # packed-refs is being rewritten: git reads it under its own rules
    out: dict[str, str] = {}
    for pattern in patterns:
        if not _from_packed(packed, pattern.rstrip("/"), out):
            return None
    loose: dict[str, str] = {}
    for pattern in patterns:
        if not _from_loose(common, pattern.rstrip("/"), loose):
            return None
    out.update(loose)
    return out


def _from_packed(packed: bytes, base: str, out: dict[str, str]) -> bool:
    """The packed lines of `base` and of the refs under it.  git writes packed-refs sorted by
    name (its header says `sorted`), so those under a folder follow one another."""
    exact = b" " + base.encode() + b"\n"
    at = packed.find(exact)
    if at >= 0:
        one = _oid(packed[packed.rfind(b"\n", 0, at) + 1 : at].decode("ascii", "replace"))
        if one is None:
            return False
        out[base] = one
    folder = (base + "/").encode()
    at = packed.find(b" " + folder)
    if at < 0:
        return True
    if b" sorted" not in packed[: packed.find(b"\n", 1)]:
        return False  # an unsorted file (an old git): leave it to git
    pos = packed.rfind(b"\n", 0, at) + 1
    while (end := packed.find(b"\n", pos)) >= 0:
        line, pos = packed[pos:end], end + 1
        if not line or line.startswith(b"^"):
            continue  # a peeled line belongs to the ref before it
        raw, _, name = line.partition(b" ")
        if not name.startswith(folder):
            break
        got = _oid(raw.decode("ascii", "replace"))
        if got is None:
            return False
        out[name.decode("utf-8", "replace")] = got
    return True


def _from_loose(common: str, base: str, out: dict[str, str]) -> bool:
    path = os.path.join(common, base)
    if os.path.isfile(path):
        return _read_into(path, base, out)
    if not os.path.isdir(path):
        return True
    stack = [(path, base)]
    seen = 0
    while stack:
        folder, name = stack.pop()
        entries = _listing(folder)
        if entries is None:
            return False
        for entry in entries:
            seen += 1
            if seen > MOST:
                return False
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{name}/{entry.name}"))
            elif not _read_into(entry.path, f"{name}/{entry.name}", out):
                return False
    return True


def _listing(folder: str) -> list[os.DirEntry[str]] | None:
    """A folder's entries but git's lock files; [] when it is gone; None when unreadable."""
    try:
        return [e for e in os.scandir(folder) if not e.name.endswith(".lock")]
    except FileNotFoundError:
        return []
    except OSError:
        return None


def _read_into(path: str, ref: str, out: dict[str, str]) -> bool:
    try:
        with open(path, encoding="ascii") as fh:
            oid = _oid(fh.read())
    except (OSError, ValueError):
        return False  # deleted while read, unreadable, not text: git decides
    if oid is None:
        return False  # a symbolic or broken ref
    out[ref] = oid
    return True
