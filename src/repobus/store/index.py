"""The derived index: a SQLite file in the git common dir that caches the merged view of the
git backend, so status, watch, report, queue and check stay fast at a million events.

Invariants:
- it is never the source of truth: `reindex` deletes and rebuilds it from the refs at any
  time, and a read first catches up with every ref that moved since the index last looked
  (another process, another worktree, a sync);
- catching up is incremental: the refs that did not move are not read; a chain that was
  rewritten (its tip's `seq` does not match the rows held) is re-read whole;
- nothing is read when no ref moved: a stat signature of the ref directories and
  packed-refs is kept, and trusted only when it was taken well after the last ref change
  (directory mtimes are coarse), so an update can never be missed;
- the catch-up runs inside one write transaction (other readers keep reading the previous
  state; two catch-ups never interleave); from scratch, the rows go in before the indexes,
  and a reader of slots takes the slot refs in a first one (the heads of the rest are not
  written: every read catches up first, so none sees a kind half read);
- a log row is kept small (store/indexrows.py); every read gives its record back byte for byte.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from repobus.errors import CorruptError
from repobus.git import fingerprint, gitcmd
from repobus.records import layout, models
from repobus.store import indexrows, snapbuild, snapshot, sql

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repobus.store.base import Entry, Slot
    from repobus.store.gitstore import GitStore

SCHEMA = int(sql.INDEX_SCHEMA)
ROOT = layout.ROOT
SLOT_KINDS = layout.SLOT_KINDS
LOG_KINDS = layout.LOG_KINDS
_TRUST_AFTER = 0.5  # seconds between the newest ref change and a trusted signature
_CHAIN = "(SELECT id FROM names WHERE text=?)"  # a chain's id (store/indexrows.py)


class Index:
    def __init__(self, store: GitStore) -> None:
        self.store = store
        self.path = store.repo.common_dir / "repobus" / sql.INDEX_FILE
        self._db: sqlite3.Connection | None = None

    # -- connection ------------------------------------------------------------------------
    def db(self, _retry: bool = True) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                str(self.path), timeout=60, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(sql.MMAP)
                db.executescript(sql.DDL)
                row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            except sqlite3.OperationalError as exc:  # full, locked, read-only: not damage
                db.close()
                raise _storage(exc) from None
            except sqlite3.DatabaseError:
                db.close()  # damaged: it is only a cache, so start it again, once
                if not _retry:
                    raise
                self.drop()
                return self.db(_retry=False)
            if row is None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            elif row[0] != str(SCHEMA) and _retry:
                db.close()
                self.drop()
                return self.db(_retry=False)
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def drop(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # -- catching up -------------------------------------------------------------------------
    def _signature(self) -> tuple[str, float]:
        """A fingerprint of the ref storage, and the newest mtime in it."""
        return fingerprint.ref_signature(str(self.store.repo.common_dir))

    def catch_up(
        self, progress: Callable[[int], None] | None = None, slots_only: bool = False
    ) -> int:
        """Bring the index up to the refs; how many records were added.  `slots_only`: a build
        from scratch takes the slot refs alone, the logs at the next catch-up (a fresh clone's
        mirror writes its claim files meanwhile)."""
        db = self.db()
        sig, newest = self._signature()
        row = db.execute("SELECT value FROM meta WHERE key='sig'").fetchone()
        if row is not None and row[0] == sig:
            return 0
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                sig, newest = self._signature()
                part = slots_only and not db.execute("SELECT 1 FROM heads LIMIT 1").fetchone()
                added = self._apply(db, progress, SLOT_KINDS if part else None)
                trusted = not part and time.time() - newest > _TRUST_AFTER
                db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('sig', ?)", (sig if trusted else "",)
                )
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise _storage(exc) from None
        return added

    def _apply(
        self,
        db: sqlite3.Connection,
        progress: Callable[[int], None] | None,
        kinds: tuple[str, ...] | None = None,
    ) -> int:
        heads = self.store.bus_heads()  # archived slots under the refs they had
        held = dict(db.execute("SELECT ref, oid FROM heads").fetchall())
        if kinds is not None:  # the refs of these kinds alone; the others' are left as they are
            heads = {r: o for r, o in heads.items() if r.split("/")[2] in kinds}
            held = {r: o for r, o in held.items() if r.split("/")[2] in kinds}
        moved = {r: o for r, o in heads.items() if held.get(r) != o}
        gone = [r for r in held if r not in heads]
        for ref in gone:
            self._forget(db, ref)
        added = 0
        for kind in SLOT_KINDS:
            refs = {r: o for r, o in moved.items() if r.startswith(f"{ROOT}/{kind}/")}
            if refs:
                self._slots(db, kind, refs)
        logs = {r: o for r, o in moved.items() if r.split("/")[2] in LOG_KINDS}
        if logs:
            added += self._logs(db, logs, held, progress)
        db.executemany("INSERT OR REPLACE INTO heads VALUES (?, ?)", list(moved.items()))
        return added

    def _forget(self, db: sqlite3.Connection, ref: str) -> None:
        kind, _, key = ref[len(ROOT) + 1 :].partition("/")
        db.execute("DELETE FROM slots WHERE kind=? AND key=?", (kind, key))
        db.execute(f"DELETE FROM logs WHERE chain={_CHAIN}", (ref,))
        db.execute("DELETE FROM heads WHERE ref=?", (ref,))

    def _slots(self, db: sqlite3.Connection, kind: str, refs: dict[str, str]) -> None:
        rows = []
        for name, oid, line in self._slot_lines(kind, refs):
            rec = _obj(line, f"{name}@{oid[:12]}")
            key = name[len(ROOT) + len(kind) + 2 :]
            status, lease_end, base = snapshot.claim_columns(key, rec)
            rows.append(
                (
                    kind,
                    key,
                    oid,
                    indexrows.as_text(rec.get("agent_id") or rec.get("engineer")),
                    status,
                    line.decode("utf-8"),
                    lease_end,
                    base,
                    _static_view(kind, key, rec),
                )
            )
        db.executemany("INSERT OR REPLACE INTO slots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def _slot_lines(self, kind: str, refs: dict[str, str]) -> list[tuple[str, str, bytes]]:
        """(ref, tip, record line) of the slots `refs` names: the live ones from their refs,
        the archived ones from their tip commits."""
        from repobus.store import archive

        out = [t for t in self.store.read_refs(f"{ROOT}/{kind}/") if t[0] in refs]
        live = {t[0] for t in out}
        rest = {r: o for r, o in refs.items() if r not in live}
        bodies = archive.messages(self.store.repo, rest.values()) if rest else {}
        out += [(r, o, bodies[o].split(b"\n", 1)[0]) for r, o in rest.items() if o in bodies]
        return out

    def _logs(
        self,
        db: sqlite3.Connection,
        refs: dict[str, str],
        held: dict[str, str],
        progress: Callable[[int], None] | None,
    ) -> int:
        fresh = not db.execute("SELECT 1 FROM logs LIMIT 1").fetchone()
        for name in sql.LOG_INDEXES if fresh else ():
            db.execute(f"DROP INDEX IF EXISTS {name}")
        added = self._insert(
            db,
            list(refs.values()) + [f"^{held[r]}" for r in refs if r in held],
            progress,
            bulk=fresh,
        )
        for stmt in sql.LOG_INDEXES.values() if fresh else ():
            db.execute(stmt)
        for ref, oid in refs.items():  # a rewritten chain is re-read whole
            tip = db.execute("SELECT seq FROM logs WHERE oid=?", (bytes.fromhex(oid),)).fetchone()
            count = db.execute(f"SELECT count(*) FROM logs WHERE chain={_CHAIN}", (ref,))
            if tip is None or tip[0] != count.fetchone()[0]:
                db.execute(f"DELETE FROM logs WHERE chain={_CHAIN}", (ref,))
                added += self._insert(db, [oid], progress, chain=ref)
        return added

    def _insert(
        self,
        db: sqlite3.Connection,
        revs: list[str],
        progress: Callable[[int], None] | None,
        chain: str | None = None,
        bulk: bool = False,
    ) -> int:
        """Insert the commits reachable from `revs`, streamed in batches (`bulk`: a build from
        scratch, with the faster parser from the second batch on, models.bulk_loads)."""
        load: Callable[[bytes | str, str], Any] = models.loads
        names = indexrows.Names(db)
        batch: list[tuple[Any, ...]] = []
        total = 0
        stream = gitcmd.stream(
            self.store.repo.root, "log", "--format=%H%x00%an%x00%B%x1e", *revs, "--"
        )
        for chunk in stream:
            chunk = chunk.lstrip(b"\n")
            if not chunk:
                continue
            oid_b, who_b, body = chunk.split(b"\x00", 2)
            line = body.split(b"\n", 1)[0]
            got = indexrows.event_row(names, oid_b, who_b, line, chain)  # no JSON parse
            if got is None:
                rec = _obj(line, f"commit {oid_b[:12].decode()}", load)
                got = indexrows.row(names, oid_b.decode(), who_b.decode(), rec, line, chain)
            batch.append(got)
            if len(batch) >= 5000:
                total += _flush(db, batch)
                load = models.bulk_loads() if bulk and load is models.loads else load
                if progress:
                    progress(total)
        total += _flush(db, batch)
        if progress:
            progress(total)
        return total

    # -- reads -----------------------------------------------------------------------------
    def status_snapshot(self) -> bytes | None:
        """The status snapshot (repobus/snapshot.py) of the refs as they are, written beside
        the index when missing or out of date; None while the refs' fingerprint is not
        trusted yet (the caller queries the index instead).  Call `catch_up` first."""
        common = str(self.store.repo.common_dir)
        path = snapshot.path_in(common)
        gen = fingerprint.generation(common)  # before the fingerprint: a later write differs
        db = self.db()
        db.execute("BEGIN")  # the fingerprint and the rows it stands for, read together
        try:
            row = db.execute("SELECT value FROM meta WHERE key='sig'").fetchone()
            sig = row[0] if row else ""
            if not sig or sig != fingerprint.ref_signature(common)[0]:
                return None
            data = snapshot.read(path)
            if snapshot.fresh(data, sig, "", 0) and data is not None:
                return data  # a trusted one (a provisional one is rebuilt: the index knows)
            data = snapbuild.build(db, sig, gen)
        finally:
            db.execute("COMMIT")
        if data is not None:
            snapshot.save(path, data)
        return data

    def snapshot(
        self, kind: str, lines: bool = False
    ) -> tuple[dict[str, str], dict[str, int], Iterator[str | bytes]]:
        """One consistent view of a log kind: the chain heads it covers, the last `seq` of
        each chain, and every record (canonical JSON text) oldest first, streamed from a
        cursor so a million records never sit in memory at once; `lines`: an event the index
        can give as its `events.jsonl` line comes as that line (bytes, indexrows.line_decoder)."""
        self.catch_up()
        db = self.db()
        db.execute("BEGIN")  # a read transaction: one snapshot for the three queries
        prefix = f"{ROOT}/{kind}/"
        heads = {
            r: o
            for r, o in db.execute(
                "SELECT ref, oid FROM heads WHERE ref >= ? AND ref < ?", (prefix, prefix + "\xff")
            )
        }
        seqs = {
            c.rsplit("/", 1)[-1]: s
            for c, s in db.execute(
                "SELECT c.text, max(l.seq) FROM logs l JOIN names c ON c.id=l.chain "
                "WHERE l.kind=? GROUP BY l.chain",
                (indexrows.KINDS[kind],),
            )
        }
        cursor = db.execute(
            f"SELECT {indexrows.RECORD} FROM {indexrows.LOGS} "
            f"WHERE l.kind=? {indexrows.OLDEST_FIRST}",
            (indexrows.KINDS[kind],),
        )
        decode = indexrows.line_decoder() if lines else indexrows.decoder()

        def rows() -> Iterator[str | bytes]:
            try:
                for row in cursor:
                    yield decode(row)
            finally:
                db.execute("COMMIT")

        return heads, seqs, rows()

    def slots(self, kind: str) -> list[Slot]:
        from repobus.store.base import Slot

        self.catch_up(slots_only=True)
        rows = (
            self.db()
            .execute("SELECT key, oid, record FROM slots WHERE kind=? ORDER BY key", (kind,))
            .fetchall()
        )
        return [Slot(kind, key, models.loads(rec, f"{kind}/{key}"), oid) for key, oid, rec in rows]

    def tail(
        self, kind: str, limit: int | None, since: int | None, writers: Iterable[str] | None
    ) -> list[Entry]:
        from repobus.store.base import Entry

        self.catch_up()
        where, args = sql.log_where(kind, since, writers)
        rows = sql.log_rows(self.db(), where, args, limit, "lower(hex(l.oid))", "c.text")
        rows.reverse()
        return [
            Entry(models.loads(rec, f"commit {oid[:12]}"), chain.rsplit("/", 1)[-1], oid)
            for oid, chain, rec in rows
        ]

    def slot(self, kind: str, key: str) -> Slot | None:
        """One slot, live or archived, as `slots` lists it: a primary-key lookup."""
        from repobus.store.base import Slot

        self.catch_up()
        q = "SELECT oid, record FROM slots WHERE kind=? AND key=?"
        got = self.db().execute(q, (kind, key)).fetchone()
        return got and Slot(kind, key, models.loads(got[1], f"{kind}/{key}"), got[0])

    def events(self, **query: Any) -> list[tuple[Any, ...]]:
        """A page of events by task, agent, name and time, newest first, from the index's
        own indexes (store/sql.py `events_page` names the query)."""
        self.catch_up()
        return sql.events_page(self.db(), **query)


def _storage(exc: sqlite3.OperationalError) -> Exception:
    from repobus.errors import LockedError, StorageError

    text = str(exc)
    if "locked" in text or "busy" in text:
        return LockedError(
            f"the derived index is locked: {text}",
            hint="another repobus is rebuilding it; retry in a moment",
        )
    return StorageError(
        f"cannot write the derived index: {text}",
        hint="free some space (or fix permissions), then retry",
    )


def _static_view(kind: str, key: str, rec: dict[str, Any]) -> str | None:
    """What status shows of a claim, made once when it is indexed (snapshot.claim_view)."""
    return snapshot.claim_view(key, rec) if kind == "claims" else None


def _obj(
    line: bytes, where: str, load: Callable[[bytes, str], Any] = models.loads
) -> dict[str, Any]:
    rec = load(line, where)
    if not isinstance(rec, dict):
        raise CorruptError(f"Invalid JSON in {where}: not a JSON object")
    return rec


def _flush(db: sqlite3.Connection, batch: list[tuple[Any, ...]]) -> int:
    n = len(batch)
    if batch:
        db.executemany("INSERT OR IGNORE INTO logs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
        batch.clear()
    return n
