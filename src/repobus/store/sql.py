"""The SQL of status, shared by the index (store/index.py) and the status views.

Imports nothing heavy.  No rule is written in SQL: the lease fields come from the one lease
rule (records/lease.py), applied in Python to the rows the queries return.
"""

from __future__ import annotations

from repobus.records import lease
from repobus.records.layout import ROOT
from repobus.store import indexrows, snapshot
from repobus.store.indexrows import LOGS, NEWEST_FIRST, OLDEST_FIRST, RECORD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from repobus.records.shown import Listing

INDEX_SCHEMA = "8"  # 5: canonical claim views, split at the lease fields; 6: `held`;
# 7: a log row's oid is unique by an index made with the others (after the rows, from scratch);
# 8: log rows kept small (store/indexrows.py): records encoded, names as ids, the oid as bytes
INDEX_FILE = "index.sqlite3"
MMAP = "PRAGMA mmap_size=268435456"
DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS heads (ref TEXT PRIMARY KEY, oid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS slots (
  kind TEXT NOT NULL, key TEXT NOT NULL, oid TEXT NOT NULL, agent TEXT, status TEXT,
  record TEXT NOT NULL, lease_end INTEGER, base INTEGER, view TEXT,
  PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS names (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS logs (
  oid BLOB NOT NULL, kind INTEGER NOT NULL, chain INTEGER NOT NULL, seq INTEGER,
  ts INTEGER, who INTEGER, name INTEGER, task INTEGER, dest TEXT, record BLOB NOT NULL);
"""
_ON = {
    "logs_oid": "UNIQUE INDEX IF NOT EXISTS logs_oid ON logs (oid)",  # INSERT OR IGNORE: once
    "logs_ts": "INDEX IF NOT EXISTS logs_ts ON logs (kind, ts)",
    "logs_who": "INDEX IF NOT EXISTS logs_who ON logs (kind, who, ts)",
    "logs_task": "INDEX IF NOT EXISTS logs_task ON logs (kind, task, ts)",
    "logs_chain": "INDEX IF NOT EXISTS logs_chain ON logs (chain, seq)",
}
# made after the rows when the index is built from scratch (a sort is faster than a million
# inserts into B-trees in random order); one `git log` lists a commit once, so no row repeats
LOG_INDEXES = {name: f"CREATE {on}" for name, on in _ON.items()}
DDL += "".join(f"{stmt};\n" for stmt in LOG_INDEXES.values())


def ids_of(column: str, values: Iterable[str]) -> tuple[str, list[str]]:
    """A condition on `column` (a name's id): one of `values` (names).  One name is compared
    with `=`, so the column's index drives the query as it did when the column held text."""
    got = list(values)
    if len(got) == 1:
        return f"{column}=(SELECT id FROM names WHERE text=?)", got
    return f"{column} IN (SELECT id FROM names WHERE text IN ({','.join('?' * len(got))}))", got


def _terminal() -> str:
    """The finished statuses (records/shown.py), as an SQL list of literals."""
    from repobus.records.models import TERMINAL_STATUSES

    return ", ".join(f"'{s}'" for s in sorted(TERMINAL_STATUSES))


def claims_sql(
    agents: Iterable[str], active_only: bool, listing: Listing
) -> tuple[str, str, dict[str, Any]]:
    """The claims of one page of `status --json`, in task order (one row more than the page,
    to tell whether more follow): key, status, record, the view made when the claim was
    indexed (snapshot.claim_view), and the lease times (`claim_texts`); and the count of the
    claims the listing leaves out.  Which claims are listed is records/shown.py's rule: the
    finished statuses and the window start are its own values, bound here."""
    named: dict[str, Any] = {"start": listing.start, "after": listing.after}
    where = ["kind='claims'"]
    agents = list(agents)
    if agents:
        named.update((f"a{i}", a) for i, a in enumerate(agents))
        where.append(f"agent IN ({', '.join(f':a{i}' for i in range(len(agents)))})")
    # NULL-safe: a claim with no status (or no time) is decided as records/shown.py decides
    listed = (
        f"(:start IS NULL OR COALESCE(status, '') NOT IN ({_terminal()}) "
        "OR COALESCE(base >= :start, 0))"
    )
    if active_only:
        listed = f"(COALESCE(status, '') NOT IN ({_terminal()}) AND {listed})"  # live
    base = " AND ".join(where)
    sql = (
        "SELECT key, status, record, view, lease_end, base FROM slots "
        f"WHERE {base} AND {listed} AND (:after IS NULL OR key > :after) "
        f"ORDER BY key LIMIT {int(listing.size) + 1}"
    )
    return sql, f"SELECT count(*) FROM slots WHERE {base} AND NOT {listed}", named


def claim_texts(rows: Iterable[tuple[Any, ...]], *, now: int, ttl: int, grace: int) -> list[str]:
    """Each claim's status view as canonical JSON text, its lease fields computed by the one
    lease rule (records/lease.py): a finished claim's view as it was indexed, an active
    claim's view with its lease fields filled in for `now`."""
    out = []
    for key, status, record, view, lease_end, base in rows:
        if view is None:  # a record the stored view cannot hold: made from the record itself
            from repobus.records import models

            rec = models.loads(record, f"claims/{key}")
            fields = lease.fields(rec.get("status"), lease.record_end(rec, ttl), now, grace)
            out.append(models.canonical(snapshot.claim_dict(key, rec, *fields)).decode("utf-8"))
        elif status == lease.ACTIVE:
            out.append(snapshot.lease_fill(view, lease.end(lease_end, base, ttl), now, grace))
        else:
            out.append(view)
    return out


def log_where(kind: str, since: int | None, writers: Iterable[str] | None) -> tuple[str, list[Any]]:
    """The WHERE clause (and its values) picking the records of one log kind (over `LOGS`)."""
    where: list[str] = ["l.kind=?"]
    args: list[Any] = [indexrows.KINDS[kind]]
    if since is not None:
        where.append("l.ts>=?")
        args.append(since)
    if writers is not None:
        cond, chains = ids_of("l.chain", [f"{ROOT}/{kind}/{w}" for w in writers])
        where.append(cond if chains else "0")
        args += chains
    return " AND ".join(where), args


def log_rows(
    db: Any,
    where: str,
    args: list[Any],
    limit: int | None,
    *columns: str,
    order: str = NEWEST_FIRST,
) -> list[tuple[Any, ...]]:
    """The rows of `LOGS` matching `where`, newest first (or in `order`), at most `limit`:
    `columns`, then the record's text (store/indexrows.py decodes it)."""
    query = f"SELECT {', '.join((*columns, RECORD))} FROM {LOGS} WHERE {where} {order}"
    if limit is not None:
        query += f" LIMIT {int(max(limit, 0))}"
    decode = indexrows.decoder(len(columns))
    return [(*r[: len(columns)], decode(r)) for r in db.execute(query, args)]


def status_json(
    db: Any,
    *,
    now: int,
    ttl: int,
    grace: int,
    limit: int,
    agents: list[str],
    active_only: bool,
    since: int | None,
    filters: str,
    listing: Listing,
) -> str:
    """The whole `status --json` document from an index that is current, byte for byte what
    the Python view encodes: one page of claims (`claim_texts`), how many the listing leaves
    out, the last `limit` events, each with `_index` (1 = newest), and the cursor of the next
    page; `filters` is the filters object, already JSON."""
    from repobus.records import models

    sql, count_sql, named = claims_sql(agents, active_only, listing)
    rows = db.execute(sql, named).fetchall()
    page = rows[: listing.size]
    claims = claim_texts(page, now=now, ttl=ttl, grace=grace)
    (left_out,) = db.execute(count_sql, named).fetchone()
    more = listing.next_cursor([r[0] for r in page], len(rows) > listing.size)
    where, args = log_where("events", since, agents or None)
    events = log_rows(db, where, args, limit)
    texts = [
        models.canonical(dict(models.loads(rec, "the index"), _index=i + 1)).decode("utf-8")
        for i, (rec,) in enumerate(events)
    ]
    texts.reverse()
    return "".join(
        (
            '{"claims":[',
            ",".join(claims),
            f'],"claims_left_out":{int(left_out)},"events":[',
            ",".join(texts),
            '],"filters":',
            filters,
            ',"next_cursor":',
            "null" if more is None else f'"{more}"',
            "}",
        )
    )


def events_page(
    db: Any,
    *,
    task: str | None = None,
    agents: Iterable[str] = (),
    names: Iterable[str] = (),
    since: int | None = None,
    before: tuple[int, str, int] | None = None,
    start: tuple[int, str, int] | None = None,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Events newest first, `(ts, chain, seq, record)`, at most `limit`: of one task, by some
    agents (their `agent_id`), of some event names, at or after `since`, strictly older than
    `before` (the `(ts, chain, seq)` of the last row of the previous page).  The indexes on
    (kind, task, ts), (kind, who, ts) and (kind, ts) answer it without reading other rows.
    With `start`: the rows at or newer than it, oldest first (the way back to a newer page)."""
    where: list[str] = [indexrows.EVENT_ROWS]
    args: list[Any] = []
    for column, values in (("who", sorted(agents)), ("name", sorted(names))):
        if values:
            cond, got = ids_of(f"l.{column}", values)
            where.append(cond)
            args += got
    if task is not None:
        cond, got = ids_of("l.task", [task])
        where.append(cond)
        args += got
    if since is not None:
        where.append("l.ts>=?")
        args.append(since)
    if before is not None:
        where.append("(l.ts, c.text, l.seq) < (?, ?, ?)")
        args += before
    if start is not None:
        where.append("(l.ts, c.text, l.seq) >= (?, ?, ?)")
        args += start
    order = NEWEST_FIRST if start is None else OLDEST_FIRST
    return log_rows(db, " AND ".join(where), args, limit, "l.ts", "c.text", "l.seq", order=order)


def chain_oids(db: Any, ref: str, limit: int) -> list[str]:
    """The commits of the chain `ref` the index holds, newest first, at most `limit`."""
    rows = db.execute(
        "SELECT lower(hex(oid)) FROM logs WHERE chain=(SELECT id FROM names WHERE text=?) "
        f"ORDER BY seq DESC LIMIT {int(limit)}",
        (ref,),
    )
    return [oid for (oid,) in rows]
