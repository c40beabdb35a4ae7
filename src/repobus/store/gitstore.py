"""The git backend: the bus as commit chains under `refs/repobus/`, shared by every worktree.

Layout (format 1):
  refs/repobus/claims/<TASK>        a task's claim history, newest commit = current claim
  refs/repobus/assignments/<TASK>   a task's assignment history
  refs/repobus/events/<AGENT>       the events one agent wrote (only that agent appends)
  refs/repobus/messages/<AGENT>     the messages one agent sent

Each commit: the empty tree, one record as its message (canonical JSON, first line), the
writer as author and the record's time as commit date, so `git log` over the event refs is the
merged, newest-first event stream (each chain is linear: git's default order is already the
merged order).  No work tree or index is touched.  Invariants:
- a ref moves only by compare-and-swap (`update-ref REF NEW OLD`), so exactly one of several
  concurrent writers of a claim wins, and an append never drops another append;
- an append guarded by a claim is one `update-ref --stdin` transaction that also verifies the
  claim ref, so a holder whose claim moved cannot write on the task;
- a commit object is complete before any ref names it (objects.write), so `kill -9` at any
  instant leaves refs valid;
- a write that crosses the packing threshold packs the bus's loose objects, and a read that
  meets a commit git removed raises a CorruptError naming the chain (store/housekeeping.py);
- a write patches the status snapshot it found current (store/snappatch.py).
"""

from __future__ import annotations

import builtins
import time

from repobus.errors import CasFailed, CorruptError
from repobus.git import fingerprint, refsdisk
from repobus.git.gitcmd import zero_oid
from repobus.records import models, required
from repobus.records.layout import ROOT
from repobus.store import archive, chains, housekeeping, objects, snappatch
from repobus.store.base import Entry, Problem, Slot
from repobus.store.gitrefs import GitRefs
from repobus.store.locks import ref_lock_files, remove_stale, update_failed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path
    from typing import Any

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo
    from repobus.store.index import Index

_RS = b"\x1e"
_LOG_FMT = "--format=%H%x00%an%x00%B%x1e"


class GitStore(GitRefs):
    kind = "git"

    def __init__(self, repo: Repo, cfg: Config) -> None:
        super().__init__()
        self.repo = repo
        self.cfg = cfg
        self._inproc = cfg.object_format == "sha1"
        self._tree: str | None = None
        self._index: Index | None = None
        self._tips: dict[str, Slot] = {}  # this process's last append per chain (CAS checks it)
        self._wrote: dict[str, Slot] = {}  # ref -> the slot this process last wrote there
        self.use_index = cfg.index
        self.archive_cache: tuple[str, dict[str, str]] | None = None  # archive tip -> its map

    def remember(self, slot: Slot) -> Slot:
        """A slot this process just wrote: `get` answers it from memory while its ref still
        names that commit (a commit's record never changes), so the mirror refresh after a
        write reads it without git."""
        self._wrote[self.ref(slot.kind, slot.key)] = slot
        return slot

    # -- objects -------------------------------------------------------------------------
    def ref(self, kind: str, key: str) -> str:
        return f"{ROOT}/{kind}/{key}"

    def where(self, kind: str, key: str) -> str:
        return self.ref(kind, key)

    @property
    def refs_root(self) -> str:
        return ROOT

    def _empty_tree(self) -> str:
        if self._tree is None:
            if self._inproc:
                self._tree = objects.write(self.repo.objects, "tree", b"")
            else:
                self._tree = self.repo.git("mktree", stdin=b"").stdout.decode().strip()
        return self._tree

    def _commit(self, parent: str | None, who: str, when: int, message: bytes) -> str:
        tree = self._empty_tree()
        body = objects.commit_body(parent, who, when, message)
        if self._inproc:
            return objects.write(self.repo.objects, "commit", body)
        body = body.replace(objects.EMPTY_TREE.encode(), tree.encode(), 1)
        res = self.repo.git("hash-object", "-t", "commit", "-w", "--stdin", stdin=body)
        return res.stdout.decode().strip()

    def _record(self, body: bytes, where: str, kind: str | None = None) -> dict[str, Any]:
        """The record a commit message holds, its fields' types checked (records/required)."""
        data = models.loads(body.split(b"\n", 1)[0], where)
        if not isinstance(data, dict):
            raise CorruptError(f"{where}: not a JSON object")
        name = required.RECORD_OF.get(kind or "")
        return data if name is None else required.on_read(name, data, where)

    # -- slots ---------------------------------------------------------------------------
    def bus_heads(self) -> dict[str, str]:
        """Every chain's tip, archived slots under the refs they had (the derived index keeps
        them as it kept them before they were archived)."""
        live = self.all_heads()
        tip = live.pop(archive.REF, None)
        moved = {f"{ROOT}/{p}": o for p, o in archive.archived_tips(self, tip).items()}
        return {**moved, **live}

    @property
    def index(self) -> Index:
        if self._index is None:
            from repobus.store.index import Index

            self._index = Index(self)
        return self._index

    def get(self, kind: str, key: str) -> Slot | None:
        ref = self.ref(kind, key)
        common = str(self.repo.common_dir)
        mine = self._wrote.get(ref)
        if mine is not None and refsdisk.tip(common, ref) == mine.version:
            return mine  # written by this process and still the tip: no git process
        absent = refsdisk.absent(common, ref)  # a task nobody claimed: no git process either
        for name, oid, body in [] if absent else self._read_refs(ref):
            if name == ref:
                return Slot(kind, key, self._record(body, f"{ref}@{oid[:12]}", kind), oid)
        return archive.slot(self, kind, key)  # a finished slot lives on in the archive

    def list(self, kind: str) -> builtins.list[Slot]:
        if self.use_index:
            with housekeeping.readable(self):  # housekeeping: a pruned object names its chain
                slots: builtins.list[Slot] = self.index.slots(kind)
            return slots
        prefix = f"{ROOT}/{kind}/"
        live = [
            Slot(kind, name[len(prefix) :], self._record(body, f"{name}@{oid[:12]}", kind), oid)
            for name, oid, body in self._read_refs(prefix)
        ]
        if kind not in archive.KINDS:
            return live
        held = {self.ref(kind, s.key) for s in live}
        return live + archive.records(self, kind, self.heads(kind), held)

    def prepare(
        self,
        kind: str,
        key: str,
        record: dict[str, Any],
        expect: Slot | None,
        when: int | None = None,
    ) -> tuple[dict[str, Any], str]:
        """The chained record and its commit (written, not yet referenced by any ref); a record
        lacking a field or holding a wrong type is refused first (records/required.on_write)."""
        rec = chains.linked(record, expect.record if expect else None)
        required.on_write(required.RECORD_OF[kind], rec, self.ref(kind, key))
        who = str(
            rec.get("by")
            or rec.get("agent_id")
            or rec.get("from")
            or rec.get("manager")
            or "repobus"
        )
        oid = self._commit(
            expect.version if expect else None,
            who,
            int(time.time()) if when is None else when,
            models.canonical(rec) + b"\n",
        )
        return rec, oid

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        rec, oid = self.prepare(kind, key, record, expect)
        ref = self.ref(kind, key)
        at = expect
        probe = snappatch.probe(self.repo.common_dir, self.use_index)
        for attempt in range(5):
            res = archive.swap(self, kind, key, oid, at)
            if res.returncode == 0:
                housekeeping.after_write(self, oid)  # housekeeping: keep loose objects packed
                if kind == "claims" and rec.get("status") in archive.FINISHED:
                    self.archive_finished()
                snappatch.apply(probe, claims=[(key, rec)] if kind == "claims" else [])
                return self.remember(Slot(kind, key, rec, oid))
            now = self.get(kind, key)
            if (now.version if now else None) != (expect.version if expect else None):
                raise CasFailed(ref, now, known=True)
            if archive.old_value(now) != archive.old_value(at):  # archived meanwhile: same tip
                at = now
                continue
            # The ref did not move: a racer holds its lock, or a crashed writer left it.
            self.clear_stale_lock(ref)
            time.sleep(0.02 * (attempt + 1))
        raise update_failed(ref, res.returncode, res.stderr, self.cfg.lock_stale)

    def lock_files(self) -> builtins.list[Path]:
        return ref_lock_files(self.repo.common_dir)

    def clear_stale_lock(
        self, ref: str | None = None, max_age: float | None = None
    ) -> builtins.list[Path]:
        """Remove lock files older than the safe age (locks.remove_stale); those removed."""
        common = self.repo.common_dir
        paths = [common / f"{ref}.lock", common / "packed-refs.lock"] if ref else self.lock_files()
        return remove_stale(paths, self.cfg.lock_stale if max_age is None else max_age)

    def history(self, kind: str, key: str) -> builtins.list[Slot]:
        slot = self.get(kind, key)  # live or archived: the chain ends at its tip either way
        if slot is None:
            return []
        chain = self._log([slot.version], reverse=True, kind=kind)
        return [Slot(kind, key, e.record, e.pos) for e in chain]

    def archive_finished(
        self, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Move finished slots to the archive once there are `archive.BATCH` of them (all of
        them with `force`); the number moved.  Never fails the write that called it."""
        moving = archive.finished(self)
        if not moving or (len(moving) < archive.BATCH and not force):
            return 0
        if not archive.move_local(self, moving, int(time.time())):
            return 0
        if progress is not None:
            progress(len(moving), len(moving))
        if len(moving) > archive.BATCH and not force:  # an older bus, moved on first use
            self.notes.append(archive.moved_note(len(moving)))
        return len(moving)

    # -- logs ----------------------------------------------------------------------------
    def append(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot | None = None
    ) -> Entry:
        ref = self.ref(kind, writer)
        from repobus.records.times import parse_or_none

        when = parse_or_none(record.get("ts")) or int(time.time())
        tip = self._tips.get(ref) or self.get(kind, writer)
        probe = snappatch.probe(self.repo.common_dir, self.use_index)
        for attempt in range(200):
            rec, oid = self.prepare(kind, writer, record, tip, when)
            old = tip.version if tip else zero_oid()
            if guard is None:
                res = self.repo.git("update-ref", ref, oid, old, check=False)
            else:
                gref = self.ref(guard.kind, guard.key)
                script = f"update {ref} {oid} {old}\nverify {gref} {guard.version}\n"
                res = self.repo.git("update-ref", "--stdin", stdin=script.encode(), check=False)
            if res.returncode == 0:
                self._tips[ref] = Slot(kind, writer, rec, oid)
                housekeeping.after_write(self, oid)  # housekeeping: keep loose objects packed
                snappatch.apply(probe, events=[(ref, rec)] if kind == "events" else [])
                return Entry(rec, writer, oid)
            self._tips.pop(ref, None)
            if guard is not None:
                now = self.get(guard.kind, guard.key)
                if now is None or now.version != guard.version:
                    raise CasFailed(self.ref(guard.kind, guard.key))
            if attempt % 10 == 9:
                self.clear_stale_lock(ref)
                if guard is not None:  # the transaction locks the claim ref too
                    self.clear_stale_lock(self.ref(guard.kind, guard.key))
            time.sleep(min(0.002 * (attempt + 1), 0.05))
            tip = self.get(kind, writer)
        raise update_failed(ref, res.returncode, res.stderr, self.cfg.lock_stale)

    def _log(
        self, refs: builtins.list[str], *extra: str, reverse: bool = False, kind: str | None = None
    ) -> builtins.list[Entry]:
        args = ["log", _LOG_FMT, *extra]
        if reverse:
            args.append("--reverse")
        with housekeeping.readable(self):  # housekeeping: a pruned object names its chain
            res = self.repo.git(*args, *refs, "--")
        out = []
        for chunk in res.stdout.split(_RS):
            chunk = chunk.lstrip(b"\n")
            if not chunk:
                continue
            oid, who, body = chunk.split(b"\x00", 2)
            o = oid.decode()
            out.append(Entry(self._record(body, f"commit {o[:12]}", kind), who.decode(), o))
        return out

    def _refs_of(self, kind: str, writers: Iterable[str] | None) -> builtins.list[str]:
        heads = self.heads(kind)
        if writers is not None:
            wanted = {self.ref(kind, w) for w in writers}
            return sorted(r for r in heads if r in wanted)
        return sorted(heads)

    def tail(
        self,
        kind: str,
        limit: int | None = None,
        since: int | None = None,
        writers: Iterable[str] | None = None,
    ) -> builtins.list[Entry]:
        if self.use_index:
            with housekeeping.readable(self):  # housekeeping: a pruned object names its chain
                got: builtins.list[Entry] = self.index.tail(kind, limit, since, writers)
            return got
        refs = self._refs_of(kind, writers)
        if not refs or (limit is not None and limit <= 0):
            return []
        extra = [] if since is None else [f"--max-age={since}"]
        entries = self._log(refs, *extra, *([] if limit is None else [f"-n{limit}"]), kind=kind)
        if limit is not None and len(entries) == limit:
            # records of one second may straddle the limit: read that whole second, so the
            # order below picks the records the index picks
            oldest = min(chains.log_order(e)[0] for e in entries)  # a commit's time is its ts
            if oldest != chains.FIRST:
                held = {e.pos for e in entries}
                more = self._log(refs, f"--max-age={oldest}", kind=kind)
                entries += [e for e in more if e.pos not in held]
        entries.sort(key=chains.log_order)  # the index's order: time, writer, place in the chain
        return entries if limit is None else entries[-limit:]

    def heads(self, kind: str) -> dict[str, str]:
        """Every chain's tip; a slot kind's archived slots included, under the ref they had."""
        if kind not in archive.KINDS:
            return self._tips_under(f"{ROOT}/{kind}/")
        return archive.with_archived(self, kind, self._tips_under(f"{ROOT}/{kind}/", archive.REF))

    def live_heads(self, kind: str) -> dict[str, str]:
        """The refs of `kind` that exist (archived slots left out)."""
        return self._tips_under(f"{ROOT}/{kind}/")

    def record_of(self, body: bytes, where: str, kind: str | None = None) -> dict[str, Any]:
        """A commit message's record, read as one of `kind` or of the kind `where` names
        (`refs/repobus/<kind>/…`, the archive's `…:<kind>/…`)."""
        named = where.removeprefix(f"{ROOT}/").rpartition(":")[2].split("/", 1)[0]
        return self._record(body, where, kind or named)

    def slot_changes(
        self, kind: str, since: str | None
    ) -> tuple[dict[str, str], str | None, dict[str, str]]:
        """The live slots (key -> tip, one git call), the archive's tip, and the archived
        slots that changed since the archive tip `since` (store/archive.changed)."""
        prefix = f"{ROOT}/{kind}/"
        live = self._tips_under(prefix, archive.REF)
        marker = live.pop(archive.REF, None)
        versions = {ref[len(prefix) :]: oid for ref, oid in live.items()}
        return versions, marker, archive.changed(self.repo, kind, since, marker)

    def signature(self, kind: str) -> tuple[int, ...]:
        """Changes whenever a ref of `kind` moves: cheap to poll (two stat calls)."""
        return fingerprint.kind_signature(str(self.repo.common_dir), kind)

    def since_heads(
        self, kind: str, old: dict[str, str]
    ) -> tuple[builtins.list[Entry], dict[str, str]]:
        new = self.heads(kind)
        moved = [oid for ref, oid in new.items() if old.get(ref) != oid]
        if not moved:
            return [], new
        stop = [f"^{oid}" for ref, oid in old.items() if ref in new and new[ref] != oid]
        entries = self._log(moved + stop, kind=kind)
        entries.reverse()
        return entries, new

    # -- verify --------------------------------------------------------------------------
    def verify(self) -> Iterator[Problem]:
        for kind in ("claims", "assignments", "events", "messages"):
            for ref, tip in sorted(self.heads(kind).items()):  # archived chains too
                yield from chains.git_chain_problems(self, ref, tip)
        yield from archive.problems(self)
        from repobus.store import legacy  # imported lines still as the import anchored them

        yield from legacy.anchor_problems(self)

    def path(self) -> Path:
        return self.repo.common_dir
