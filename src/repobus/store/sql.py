"""The SQL of status, shared by the index (store/index.py) and the status views.

Imports nothing heavy.  No rule is written in SQL: the lease fields come from the one lease
rule (records/lease.py), applied in Python to the rows the queries return.
"""

from __future__ import annotations

from repobus.records import lease
from repobus.records.layout import ROOT
from repobus.store import snapshot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

INDEX_SCHEMA = "5"  # 5: claim views are canonical, split at the lease fields
INDEX_FILE = "index.sqlite3"
NEWEST_FIRST = "ORDER BY ts DESC, chain DESC, seq DESC"
MMAP = "PRAGMA mmap_size=268435456"


def claims_sql(agents: Iterable[str], active_only: bool) -> tuple[str, dict[str, Any]]:
    """The claims of `status --json`, in task order: key, status, record, the view made when
    the claim was indexed (snapshot.claim_view), and the lease times (`claim_texts`)."""
    named: dict[str, Any] = {}
    where = ["kind='claims'"]
    agents = list(agents)
    if agents:
        named.update((f"a{i}", a) for i, a in enumerate(agents))
        where.append(f"agent IN ({', '.join(f':a{i}' for i in range(len(agents)))})")
    if active_only:
        where.append("status IN ('active', 'paused')")
    sql = (
        "SELECT key, status, record, view, lease_end, base FROM slots "
        f"WHERE {' AND '.join(where)} ORDER BY key"
    )
    return sql, named


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
    """The WHERE clause (and its values) picking the records of one log kind."""
    where: list[str] = ["kind=?"]
    args: list[Any] = [kind]
    if since is not None:
        where.append("ts>=?")
        args.append(since)
    if writers is not None:
        chains = [f"{ROOT}/{kind}/{w}" for w in writers]
        where.append(f"chain IN ({','.join('?' * len(chains))})")
        args += chains
    return " AND ".join(where), args


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
) -> str:
    """The whole `status --json` document from an index that is current, byte for byte what
    the Python view encodes: the claims (`claim_texts`) and the last `limit` events, each
    with `_index` (1 = newest); `filters` is the filters object, already JSON."""
    from repobus.records import models

    sql, named = claims_sql(agents, active_only)
    claims = claim_texts(db.execute(sql, named), now=now, ttl=ttl, grace=grace)
    where, args = log_where("events", since, agents or None)
    rows = db.execute(
        f"SELECT record FROM logs WHERE {where} {NEWEST_FIRST} LIMIT {int(max(limit, 0))}", args
    ).fetchall()
    events = [
        models.canonical(dict(models.loads(rec, "the index"), _index=i + 1)).decode("utf-8")
        for i, (rec,) in enumerate(rows)
    ]
    events.reverse()
    return "".join(
        (
            '{"claims":[',
            ",".join(claims),
            '],"events":[',
            ",".join(events),
            '],"filters":',
            filters,
            "}",
        )
    )
