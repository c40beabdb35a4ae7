"""The archive: finished slots moved out of the refs every push advertises.

A push or fetch pays for every ref the server advertises, so a bus whose finished claims
stay as refs grows slower with its history.  Finished slots therefore move to one ref:

  refs/repobus/archive   a chain of commits; each commit's tree maps `<kind>/<key>`
                         (claims/<TASK>, assignments/<TASK>) to the tip commit of that
                         slot's chain, as a gitlink (mode 160000); its parents are the
                         previous archive commit and bundle commits (empty tree)
                         whose parents are the tips this commit added, 64 each.

Invariants:
- everything the archive names stays reachable through its parents, so a fetch of the
  archive ref brings every archived chain and gc keeps them;
- a slot is archived in the same atomic ref transaction that deletes its live ref, with a
  compare-and-swap on both; a slot is therefore live or archived, and a live ref always wins
  over an archive entry (a task claimed again continues the archived chain, so its live tip
  descends from the archived one);
- only finished slots move: claims whose status is done or released, and the assignments of
  those tasks;
- an archived slot reads like a live one: its record is the tip commit's message, its history
  the tip's chain, its version the tip.
"""

from __future__ import annotations

from repobus.git import refsdisk
from repobus.records.layout import ROOT
from repobus.store.base import Problem, Slot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from repobus.git.gitcmd import Repo, Result
    from repobus.store.gitstore import GitStore

REF = f"{ROOT}/archive"
KINDS = ("claims", "assignments")  # the slot kinds that are archived
FINISHED = frozenset({"done", "released"})  # a claim in one of these may be archived
BATCH = 32  # finished live slots that make a write archive them
FANOUT = 64  # parents of one bundle commit (the tips it keeps reachable)
MAX_PARENTS = 1024  # tips per archive commit: at most 16 bundles (a bigger move is a chain)
_GITLINK = "160000"


class ArchivedSlot(Slot):
    """A slot read from the archive: no live ref; writing it creates the ref again."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ArchivedSlot({self.kind}/{self.key}@{self.version[:12]})"


def tip(repo: Repo) -> str | None:
    """The archive ref's commit, None when the bus has no archive."""
    res = repo.git("rev-parse", "--verify", "-q", f"{REF}^{{commit}}", check=False)
    return res.stdout.decode().strip() or None if res.returncode == 0 else None


def entries(repo: Repo, rev: str | None = REF) -> dict[str, str]:
    """`kind/key` -> tip commit of every archived slot (empty when there is no archive)."""
    if rev is None:
        return {}
    res = repo.git("ls-tree", "-r", "-z", rev, "--", check=False)
    if res.returncode != 0:
        return {}
    out: dict[str, str] = {}
    for item in res.stdout.split(b"\0"):
        meta, _, path = item.partition(b"\t")
        parts = meta.split()
        if len(parts) == 3 and parts[0] == _GITLINK.encode():
            out[path.decode()] = parts[2].decode()
    return out


def changed(repo: Repo, kind: str, old: str | None, new: str | None) -> dict[str, str]:
    """key -> tip of the archived slots of `kind` added or moved between archive commits
    `old` and `new` (every one when `old` is None): one `git diff-tree`, so a reader that
    keeps a copy pays for what changed, not for the archive's size."""
    if new is None or old == new:
        return {}
    prefix = f"{kind}/"
    if old is None:
        return {p[len(prefix) :]: o for p, o in entries(repo, new).items() if p.startswith(prefix)}
    res = repo.git("diff-tree", "-r", "-z", "--no-renames", old, new, "--", kind, check=False)
    if res.returncode != 0:  # an archive this clone cannot compare: read it whole
        return changed(repo, kind, None, new)
    out: dict[str, str] = {}
    items = res.stdout.split(b"\0")
    for meta, path in zip(items[0::2], items[1::2], strict=False):
        fields = meta.split()
        if len(fields) == 5 and fields[1] == _GITLINK.encode():  # added or moved, not deleted
            out[path.decode()[len(prefix) :]] = fields[3].decode()
    return out


def _batch(repo: Repo, names: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """`git cat-file --batch` over `names`: name -> (commit oid, commit message) for every
    name that resolves to a commit."""
    wanted = list(names)
    if not wanted:
        return {}
    res = repo.git("cat-file", "--batch", stdin="".join(f"{n}\n" for n in wanted).encode())
    out: dict[str, tuple[str, bytes]] = {}
    data, pos = res.stdout, 0
    for name in wanted:
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) != 3:  # "<name> missing" (or ambiguous)
            continue
        size = int(header[2])
        body = data[pos : pos + size]
        pos += size + 1
        if header[1] == b"commit":
            out[name] = (header[0].decode(), body.split(b"\n\n", 1)[-1])
    return out


def lookup(repo: Repo, kind: str, key: str) -> tuple[str, bytes] | None:
    """(tip, tip's message) of an archived slot, None when it is not archived."""
    name = f"{REF}:{kind}/{key}"
    return _batch(repo, [name]).get(name)


def messages(repo: Repo, oids: Iterable[str]) -> dict[str, bytes]:
    """The commit message of each oid (one git call)."""
    return {oid: msg for oid, (_, msg) in _batch(repo, oids).items()}


def _tree(repo: Repo, lines: list[str]) -> str:
    return (
        repo.git("mktree", "-z", stdin="".join(f"{ln}\0" for ln in lines).encode())
        .stdout.decode()
        .strip()
    )


def _root_tree(repo: Repo, slots: dict[str, str]) -> str:
    by_kind: dict[str, list[str]] = {}
    for path, oid in slots.items():
        kind, _, key = path.partition("/")
        by_kind.setdefault(kind, []).append(f"{_GITLINK} commit {oid}\t{key}")
    subtrees = [f"040000 tree {_tree(repo, lines)}\t{kind}" for kind, lines in by_kind.items()]
    return _tree(repo, subtrees)


def _object(repo: Repo, tree: str, parents: list[str], when: int, message: str) -> str:
    """Write a commit object (`git hash-object` keeps it format-agnostic)."""
    ident = f"repobus <repobus@repobus.invalid> {when} +0000"
    head = [f"tree {tree}", *(f"parent {p}" for p in parents)]
    head += [f"author {ident}", f"committer {ident}"]
    body = "\n".join(head) + f"\n\n{message}\n"
    res = repo.git("hash-object", "-t", "commit", "-w", "--stdin", stdin=body.encode())
    return res.stdout.decode().strip()


def commit(
    repo: Repo, parent: str | None, slots: dict[str, str], added: list[str], when: int
) -> str:
    """Write (not reference) the archive commit after `parent` whose tree is `slots`; the
    `added` tips hang below it in bundle commits of at most FANOUT parents each.  Every push
    and fetch walks the parents of the commits the server advertises: a commit with
    thousands of parents would cost every later push that many reads."""
    empty = _tree(repo, [])  # the empty tree of this repository's object format
    bundles = [
        _object(repo, empty, added[i : i + FANOUT], when, "archived chain tips")
        for i in range(0, len(added), FANOUT)
    ]
    parents = ([parent] if parent else []) + bundles
    return _object(
        repo, _root_tree(repo, slots), parents, when, f"archive {len(added)} finished slots"
    )


def build(
    repo: Repo, parent: str | None, moving: dict[str, str], when: int
) -> tuple[str | None, dict[str, str]]:
    """The archive commit(s) that add `moving` (`kind/key` -> tip) to the archive at
    `parent`: the new archive tip and its full map.  More than MAX_PARENTS new tips make a
    short chain of commits, each within the bound."""
    current = entries(repo, parent)
    new = parent
    items = sorted(moving.items())
    for start in range(0, len(items), MAX_PARENTS):
        chunk = dict(items[start : start + MAX_PARENTS])
        current.update(chunk)
        new = commit(repo, new, current, sorted(set(chunk.values())), when)
    return new, current


# -- the git store's side ---------------------------------------------------------------------
def moved_note(count: int) -> str:
    return (
        f"moved {count} finished claims and assignments into {REF}: pushes and fetches no "
        "longer pay for them; every read shows them as before (docs/storage.md)"
    )


def old_value(slot: Slot | None) -> str | None:
    """The value a compare-and-swap of a slot's ref expects: its tip when the slot is live,
    None (the ref must not exist) when it is new or archived."""
    return None if slot is None or isinstance(slot, ArchivedSlot) else slot.version


def swap(store: GitStore, kind: str, key: str, oid: str, at: Slot | None) -> Result:
    """Move `kind/key`'s ref to `oid` if the slot is still `at`.  A live slot is one
    compare-and-swap of its ref.  A new or archived one is created, in one transaction that
    also verifies the archive did not move since it was read: the ref alone cannot tell "never
    claimed" from "archived".  A new claim (the hot path) reads the archive's tip from the ref
    files and its keys from a per-clone cache, so it starts one git process, as before the
    archive."""
    from repobus.errors import CasFailed
    from repobus.git.gitcmd import zero_oid

    ref = store.ref(kind, key)
    old = old_value(at)
    if old is not None or kind not in KINDS:
        return store.repo.git("update-ref", ref, oid, old or zero_oid(), check=False)
    if at is None:
        arch = tip_on_disk(store.repo.common_dir)
        if arch is not None and f"{kind}/{key}" in _keys(store, arch):
            raise CasFailed(ref, store.get(kind, key), known=True)  # it was claimed before
    else:
        names = [REF, f"{REF}:{kind}/{key}"]
        got = _batch(store.repo, names)
        entry = got.get(names[1])
        if (entry[0] if entry else None) != at.version:
            raise CasFailed(ref, store.get(kind, key), known=True)
        arch = got[REF][0] if REF in got else None
    script = f"update {ref} {oid} {zero_oid()}\nverify {REF} {arch or zero_oid()}\n"
    return store.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)


def tip_on_disk(common: Path, ref: str = REF) -> str | None:
    """The archive's tip (or `ref`'s) from the ref files, without git (git/refsdisk.tip)."""
    return refsdisk.tip(str(common), ref)


def _keys(store: GitStore, arch: str) -> set[str]:
    """The `kind/key` names the archive commit `arch` holds, cached in the clone's git dir
    (one file, rewritten when the archive moves)."""
    path = store.repo.common_dir / "repobus" / "archive-keys"
    try:
        head, _, rest = path.read_text(encoding="utf-8").partition("\n")
        if head == arch:
            return set(rest.split("\n"))
    except OSError:
        pass
    keys = set(archived_tips(store, arch))
    from repobus.store import files

    files.write_atomic(path, arch + "\n" + "\n".join(sorted(keys)), durable=False)
    return keys


def slot(store: GitStore, kind: str, key: str) -> Slot | None:
    """The archived slot `kind/key`, None when it is not archived."""
    if kind not in KINDS:
        return None
    arch = tip_on_disk(store.repo.common_dir)
    if arch is None or f"{kind}/{key}" not in _keys(store, arch):
        return None  # the common case, a task never finished: no git process
    found = lookup(store.repo, kind, key)
    if found is None:
        return None
    oid, msg = found
    record = store.record_of(msg, f"{REF}:{kind}/{key}@{oid[:12]}")
    return ArchivedSlot(kind, key, record, oid)


def archived_tips(store: GitStore, tip_oid: str | None) -> dict[str, str]:
    """`kind/key` -> tip of every archived slot, cached per archive commit."""
    if tip_oid is None:
        return {}
    cached = store.archive_cache
    if cached is None or cached[0] != tip_oid:
        cached = (tip_oid, entries(store.repo, tip_oid))
        store.archive_cache = cached
    return cached[1]


def with_archived(store: GitStore, kind: str, live: dict[str, str]) -> dict[str, str]:
    """`live` (ref -> tip of the live refs of `kind`, plus the archive ref when present) with
    every archived slot of `kind` that is not live, under the ref it had: the heads of a kind
    look the same whether its finished slots are archived or not."""
    tip_oid = live.pop(REF, None)
    out = {
        f"{ROOT}/{path}": oid
        for path, oid in archived_tips(store, tip_oid).items()
        if path.startswith(f"{kind}/")
    }
    out.update(live)
    return out


def records(store: GitStore, kind: str, heads: dict[str, str], live: set[str]) -> list[Slot]:
    """The archived slots among `heads` (those not in `live`), read in one git call."""
    prefix = f"{ROOT}/{kind}/"
    wanted = {ref: oid for ref, oid in heads.items() if ref not in live}
    bodies = messages(store.repo, wanted.values())
    return [
        ArchivedSlot(
            kind, ref[len(prefix) :], store.record_of(bodies[oid], f"{ref}@{oid[:12]}"), oid
        )
        for ref, oid in sorted(wanted.items())
        if oid in bodies
    ]


def finished(store: GitStore) -> dict[str, str]:
    """Live slot refs that may be archived (ref -> tip): finished claims, and the assignments
    of tasks whose claim is finished or already archived."""
    claims = {
        name: (oid, store.record_of(body, f"{name}@{oid[:12]}"))
        for name, oid, body in store.read_refs(f"{ROOT}/claims/")
    }
    out = {n: oid for n, (oid, rec) in claims.items() if rec.get("status") in FINISHED}
    done = {n.rsplit("/", 1)[1] for n in out}
    live = {n.rsplit("/", 1)[1] for n in claims}
    archived = {
        p.split("/", 1)[1] for p in archived_tips(store, tip(store.repo)) if p.startswith("claims/")
    }
    for name, oid in store.live_heads("assignments").items():
        task = name.rsplit("/", 1)[1]
        if task in done or (task in archived and task not in live):
            out[name] = oid
    return out


def move_local(store: GitStore, moving: dict[str, str], when: int) -> bool:
    """Archive `moving` (live ref -> tip) in one atomic ref transaction: the archive ref moves
    and each live ref is deleted, each only if still at the value read.  False when any of
    them moved meanwhile (nothing is changed then; a later write tries again)."""
    from repobus.git.gitcmd import zero_oid

    old = tip(store.repo)
    paths = {ref[len(ROOT) + 1 :]: oid for ref, oid in moving.items()}
    new, _ = build(store.repo, old, paths, when)
    script = f"update {REF} {new} {old or zero_oid()}\n"
    script += "".join(f"delete {ref} {oid}\n" for ref, oid in sorted(moving.items()))
    res = store.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
    return res.returncode == 0


def problems(store: GitStore) -> Iterator[Problem]:
    """A task claimed again after it was archived continues the archived chain: a live ref
    that does not descend from its archived tip was rewritten."""
    archived = archived_tips(store, tip(store.repo))
    if not archived:
        return
    live = {**store.live_heads("claims"), **store.live_heads("assignments")}
    for path, oid in sorted(archived.items()):
        ref = f"{ROOT}/{path}"
        now = live.get(ref)
        if now is None or now == oid:
            continue
        if not _descends(store.repo, oid, now):
            yield Problem(
                ref, f"commit {now[:12]}", f"does not continue its archived chain ({oid[:12]})"
            )


def kept(repo: Repo, tips: dict[str, str], path: str, tip_oid: str) -> bool:
    """Whether an archive map (`kind/key` -> tip) holds slot `path` at `tip_oid` or later: a
    slot ref at `tip_oid` that is gone was archived, not deleted.  The one rule; `holds`,
    `covers` and a fetch's integration (store/incoming.py) apply it to their map."""
    held = tips.get(path)
    return held is not None and (held == tip_oid or _descends(repo, tip_oid, held))


def holds(repo: Repo, rev: str | None, path: str, tip_oid: str) -> bool:
    """`kept` for the archive commit `rev`."""
    if rev is None or path.split("/", 1)[0] not in KINDS:
        return False
    return kept(repo, entries(repo, rev), path, tip_oid)


def covers(store: GitStore, path: str, tip_oid: str) -> bool:
    """`kept` for this clone's archive (its map cached per archive commit)."""
    return kept(store.repo, archived_tips(store, tip(store.repo)), path, tip_oid)


def _descends(repo: Repo, old: str, new: str) -> bool:
    return repo.git("merge-base", "--is-ancestor", old, new, check=False).returncode == 0
