"""Housekeeping of the git backend's objects: keeping them packed, and naming a chain whose
objects git removed.

Packing.  Every record is one loose object, and `git gc --auto` (run by the user's own
`git commit`, `merge`, `fetch`) repacks the whole repository once it estimates more than
`gc.auto` (6,700) loose objects - from the number of entries in `objects/17` times 256 - or
finds more than `gc.autoPackLimit` (50) packs.  The bus keeps its share well below both.
Invariants:
- the check costs nothing on almost every write: only a write whose object landed in
  `objects/17` can have moved git's estimate, and only then is that one directory listed;
  the bus packs when the estimate passes a quarter of `gc.auto` (`repobus.packThreshold`
  overrides it; with `gc.auto=0` the bus still packs at 1,675; `packThreshold=0` never packs);
- a pack holds only objects some bus ref already names: the loose commits reachable from the
  bus refs (and their remote-tracking refs) down to the first packed one go through
  `git pack-objects`, then their loose copies are removed (each is in a pack then).  So
  nothing is ever deleted that is not in a pack, an object a writer has written but not yet
  referenced stays loose (git's own gc keeps it), and a concurrent `git gc` / `git repack`
  sees only reachable objects in our packs;
- when the packs reach half of `gc.autoPackLimit`, `git repack -d -l --geometric=2` rolls
  the small ones up (it also packs the loose objects present then - no prune either);
- one process packs at a time (a non-blocking flock on `<common dir>/repobus-locks/pack.lock`):
  another one skips, it never waits;
- a failed pack never fails the write that triggered it: that write is done, and the next
  crossing tries again.

Missing objects.  `git gc --prune=now` beside a writer can delete an object written but not
yet referenced (git documents it as unsafe), leaving a ref that names a missing commit.
Invariant: every read of a chain that meets a missing object raises `MissingObjectError`
(a CorruptError, exit 1) naming the chain and how to restore it - never an internal error.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

from repobus.errors import BusError, CorruptError, GitError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo
    from repobus.store.gitrefs import GitRefs
    from repobus.store.gitstore import GitStore

SAMPLE = "17"  # the fan-out directory `git gc --auto` counts
DEFAULT_GC_AUTO = 6700
FLOOR = DEFAULT_GC_AUTO // 4  # where the bus packs when gc.auto is 0 (git never packs then)
DEFAULT_PACK_LIMIT = 50
BUS_REFS = ("refs/repobus/", "refs/repobus-remote/")  # the bus and its remote-tracking copy


# -- packing ----------------------------------------------------------------------------------
def after_write(store: GitStore, oid: str) -> bool:
    """Called once a write's ref moved: pack if this write crossed the threshold.  True when
    it packed."""
    if oid[:2] != SAMPLE:
        return False
    return maybe_pack(store.repo, store.cfg)


def maybe_pack(repo: Repo, cfg: Config) -> bool:
    """Pack when git's estimate of loose objects passes the bus's threshold (a listdir of
    one small directory; `git config` is read only past two entries).  For callers that do
    not know which object they wrote (after a fetch).  True when it packed."""
    count = sampled(repo.objects, 64 if cfg.object_format == "sha256" else 40)
    if count < 2:  # no threshold of at least 1 object is crossed below two entries
        return False
    if not due(count, threshold(repo, cfg)):
        return False
    return pack(repo)


def sampled(objects: Path, hexlen: int = 40) -> int:
    """Loose objects in objects/17, counted as `git gc --auto` counts them."""
    try:
        names = os.listdir(objects / SAMPLE)
    except OSError:  # gone (pruned while empty) or unreadable: nothing to estimate
        return 0
    size = hexlen - 2
    return sum(1 for n in names if len(n) == size and all(c in "0123456789abcdef" for c in n))


def due(count: int, limit: int) -> bool:
    """Whether `count` entries in objects/17 pass `limit` loose objects, judged as git does
    (more entries than ceil(limit / 256))."""
    return limit > 0 and count > -(-limit // 256)


def threshold(repo: Repo, cfg: Config) -> int:
    """Loose objects at which the bus packs: `repobus.packThreshold`, else a quarter of
    `gc.auto` (FLOOR when gc.auto is 0 or less); 0 means never."""
    raw = cfg.raw.get("packthreshold", "").strip()
    if raw.isdigit():  # else the default (doctor names a value that does not parse)
        return int(raw)
    gc_auto = _git_int(repo, "gc.auto", DEFAULT_GC_AUTO)
    return max(gc_auto // 4, 1) if gc_auto > 0 else FLOOR


def _git_int(repo: Repo, key: str, default: int) -> int:
    """An integer git setting from every scope (system, global, local, includes)."""
    res = repo.git("config", "--int", "--get", key, check=False)
    text = res.stdout.decode().strip()
    return int(text) if res.returncode == 0 and text.lstrip("-").isdigit() else default


def pack(repo: Repo) -> bool:
    """Pack the bus's loose objects (and roll up the packs when there are many), unless
    another process is packing.  True when this call packed."""
    try:
        with _pack_lock(repo.common_dir) as held:
            if not held:
                return False
            wanted = loose_bus_objects(repo)
            if wanted and not _pack_objects(repo, wanted):
                return False
            if packs(repo.objects) >= _pack_limit(repo) // 2:
                repo.git("repack", "-d", "-l", "-q", "--geometric=2", check=False)
            return bool(wanted)
    except (OSError, BusError):  # a lock folder we cannot write, a git that failed: the
        return False  # write that called us is done; the next crossing tries again


def _pack_objects(repo: Repo, oids: list[str]) -> bool:
    """Pack `oids`, then remove their loose copies.  Each is in a pack once pack-objects
    succeeded (the new one, or an older one `--incremental` left it in), which is exactly what
    `git prune-packed` checks; unlike it, this keeps the fan-out directories: on ext4 the
    first files created in a re-created directory were measured several times slower."""
    stdin = "".join(f"{o}\n" for o in oids).encode()
    base = str(repo.objects / "pack" / "pack")
    made = repo.git("pack-objects", "-q", "--incremental", base, stdin=stdin, check=False)
    if made.returncode != 0:
        return False
    for oid in oids:
        (repo.objects / oid[:2] / oid[2:]).unlink(missing_ok=True)
    return True


def _pack_limit(repo: Repo) -> int:
    limit = _git_int(repo, "gc.autoPackLimit", DEFAULT_PACK_LIMIT)
    return limit if limit > 1 else DEFAULT_PACK_LIMIT


def packs(objects: Path) -> int:
    """Packs `git gc --auto` counts: those without a .keep file."""
    try:
        names = set(os.listdir(objects / "pack"))
    except OSError:
        return 0
    return sum(
        1 for n in names if n.endswith(".pack") and n[: -len(".pack")] + ".keep" not in names
    )


def loose_bus_objects(repo: Repo) -> list[str]:
    """The loose objects the bus refs name: each chain from its tip down to its first
    packed commit, and the (empty) tree of those commits."""
    res = repo.git("for-each-ref", "--format=%(objectname)", *BUS_REFS, check=False)
    todo = res.stdout.decode().split()
    seen: set[str] = set()
    out: list[str] = []
    while todo:
        oid = todo.pop()
        if oid in seen:
            continue
        seen.add(oid)
        links = _loose_links(repo.objects, oid)
        if links is None:
            continue  # packed (or not a commit): what lies below is packed too
        out.append(oid)
        todo.extend(links)
    return out


def _loose_links(objects: Path, oid: str) -> list[str] | None:
    """The tree and parents of loose commit `oid`; the tree alone as [] when `oid` is a loose
    tree; None when it is not loose."""
    import zlib

    try:
        raw = (objects / oid[:2] / oid[2:]).read_bytes()
        head = zlib.decompressobj().decompress(raw, 4096)
    except (OSError, zlib.error):
        return None
    kind, _, rest = head.partition(b" ")
    if kind == b"tree":
        return []
    if kind != b"commit":
        return None
    links = []
    for line in rest.split(b"\x00", 1)[-1].split(b"\n"):
        if not line:
            break  # the end of the headers
        key, _, value = line.partition(b" ")
        if key in (b"tree", b"parent"):
            links.append(value.decode())
    return links


def _pack_lock(common: Path) -> AbstractContextManager[bool]:
    """One packer at a time: a second one skips (no wait)."""
    from repobus.store import files

    return files.locked_within(common / "repobus-locks" / "pack.lock", 0)


# -- missing objects ----------------------------------------------------------------------------
_MISSING = (
    "bad object",
    "missing object",
    "unable to read",
    "could not read",
    "invalid object",
    "not a valid object",
    "failed to traverse parents",
    "does not point to a valid object",
)
_HEX = r"([0-9a-f]{40,64})"


class Damage:
    """A chain that cannot be read: `ref`, the missing object `oid`, whether it is the tip,
    and the oldest readable record above the gap (`above`, when the tip is present)."""

    __slots__ = ("ref", "oid", "tip", "above")

    def __init__(self, ref: str, oid: str, tip: bool, above: str | None = None) -> None:
        self.ref = ref
        self.oid = oid
        self.tip = tip
        self.above = above

    def __repr__(self) -> str:
        return f"Damage({self.ref}: {self.oid[:12]}{' tip' if self.tip else ''})"


class MissingObjectError(CorruptError):
    """A bus chain names an object this clone no longer has."""

    def __init__(self, message: str, damage: Damage, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.damage = damage


def is_missing(stderr: str) -> bool:
    low = stderr.lower()
    return any(w in low for w in _MISSING)


@contextmanager
def readable(store: GitRefs, ref: str | None = None) -> Iterator[None]:
    """Turn a git read that met a missing object into MissingObjectError naming the chain
    (`ref` when the read was of that one chain)."""
    try:
        yield
    except GitError as exc:
        if not is_missing(exc.stderr):
            raise
        heads = store.all_heads()
        if ref is not None:
            heads = {ref: heads[ref]} if ref in heads else {}
        damage = locate(store.repo, exc.stderr, heads)
        if damage is None:
            raise
        raise missing_error(store, damage) from None


def locate(repo: Repo, stderr: str, heads: dict[str, str]) -> Damage | None:
    """Which chain a failed read's `stderr` is about, and what is missing in it."""
    m = re.search(r"(?:missing object \S+ for|bad object) (refs/\S+)", stderr)
    if m and m.group(1) in heads:
        return probe(repo, m.group(1), heads[m.group(1)])
    named = re.findall(_HEX, stderr.lower())
    for ref, tip in sorted(heads.items()):
        if tip in named:
            found = probe(repo, ref, tip)
            if found is not None:
                return found
    damaged = scan(repo, heads)
    return damaged[0] if damaged else None


def probe(repo: Repo, ref: str, tip: str) -> Damage | None:
    """The missing object of one chain, None when every commit of it is present."""
    res = repo.git("rev-list", "--quiet", tip, "--", check=False)
    if res.returncode == 0:
        return None
    low = res.stderr.lower()
    gone = re.search(r"(?:could not read|bad object) " + _HEX, low)
    if gone is None or gone.group(1) == tip:
        here = repo.git("cat-file", "-e", tip, check=False).returncode == 0
        return None if here else Damage(ref, tip, tip=True)  # else: failed, but not for this
    above = re.search(r"traverse parents of commit " + _HEX, low)
    return Damage(ref, gone.group(1), tip=False, above=above.group(1) if above else None)


def scan(repo: Repo, heads: dict[str, str]) -> list[Damage]:
    """Every chain with a missing commit: one walk when all are intact, halves otherwise."""
    refs = sorted(heads)
    if not refs or _intact(repo, [heads[r] for r in refs]):
        return []
    if len(refs) == 1:
        found = probe(repo, refs[0], heads[refs[0]])
        return [found] if found is not None else []
    mid = len(refs) // 2
    return scan(repo, {r: heads[r] for r in refs[:mid]}) + scan(
        repo, {r: heads[r] for r in refs[mid:]}
    )


def _intact(repo: Repo, tips: list[str]) -> bool:
    stdin = "".join(f"{t}\n" for t in tips).encode()
    return repo.git("rev-list", "--quiet", "--stdin", stdin=stdin, check=False).returncode == 0


def describe(damage: Damage) -> str:
    return f"{damage.ref} cannot be read: {gap(damage)}"


def gap(damage: Damage) -> str:
    """What is missing in the chain, without naming the chain."""
    where = "its newest record" if damage.tip else f"the record before {(damage.above or '?')[:12]}"
    return (
        f"{where}, commit {damage.oid[:12]}, is missing from this clone's objects "
        "(removed by `git gc --prune=now` or `git prune` beside a running writer?)"
    )


def repair(repo: Repo, cfg: Config, damage: Damage) -> str:
    """How to restore the chain: from the remote when there is one, else by hand."""
    if cfg.remote:
        also = " (`repobus sync` does too, once it was pushed)" if damage.tip else ""
        return f"restore it from the remote: `repobus doctor --fix` re-fetches it{also}"
    if not damage.tip:
        return (
            "restore it from a backup or another clone; the records before "
            f"{(damage.above or '?')[:12]} cannot be read meanwhile"
        )
    last = newest_present(repo, damage.ref)
    if last is None:
        return "restore it from a backup or another clone; its newest records are lost"
    return (
        f"restore it from a backup or another clone; its records after {last[:12]} are lost "
        f"(to go on without them: git update-ref {damage.ref} {last} {damage.oid})"
    )


def missing_error(store: GitRefs, damage: Damage) -> MissingObjectError:
    return MissingObjectError(describe(damage), damage, hint=repair(store.repo, store.cfg, damage))


def newest_present(repo: Repo, ref: str) -> str | None:
    """The newest record of `ref` this clone still has, as the derived index remembers the
    chain (None when the index never saw it)."""
    import sqlite3

    from repobus.store import sql

    path = repo.common_dir / "repobus" / sql.INDEX_FILE
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            oids = sql.chain_oids(db, ref, 50)
        finally:
            db.close()
    except sqlite3.Error:  # a cache: unreadable means unknown
        return None
    return _first_present(repo, oids)


def _first_present(repo: Repo, oids: Iterable[str]) -> str | None:
    wanted = list(oids)
    if not wanted:
        return None
    res = repo.git(
        "cat-file", "--batch-check", stdin="".join(f"{o}\n" for o in wanted).encode(), check=False
    )
    for line in res.stdout.decode().splitlines():
        oid, _, what = line.partition(" ")
        if what and what != "missing" and _intact(repo, [oid]):
            return oid
    return None
