"""The SQL of status, shared by the index (store/index.py) and the status views.

Imports nothing heavy: the lean read path builds its queries from here too.
"""

from __future__ import annotations

from repobus.records.layout import ROOT

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

INDEX_SCHEMA = "4"
INDEX_FILE = "index.sqlite3"
NEWEST_FIRST = "ORDER BY ts DESC, chain DESC, seq DESC"
MMAP = "PRAGMA mmap_size=268435456"


def claims_sql(agents: Iterable[str], active_only: bool) -> tuple[str, dict[str, Any]]:
    """The claims of `status --json` as JSON texts, with the lease fields computed by SQLite
    (bind `now`, `ttl`, `grace`): the same values as `views.claim_view`."""
    named: dict[str, Any] = {}
    where = ["kind='claims'"]
    agents = list(agents)
    if agents:
        named.update((f"a{i}", a) for i, a in enumerate(agents))
        where.append(f"agent IN ({', '.join(f':a{i}' for i in range(len(agents)))})")
    if active_only:
        where.append("status IN ('active', 'paused')")
    # A finished claim's view is stored whole: returned as it is, nothing computed.
    sql = f"""
        WITH c AS (
          SELECT key, record, view, status, COALESCE(lease_end, base + :ttl) AS fin
          FROM slots WHERE {" AND ".join(where)}),
        s AS (
          SELECT key, record, view, status, fin,
                 CASE WHEN status IS NOT 'active' THEN COALESCE(NULLIF(status, ''), 'unknown')
                      WHEN fin IS NOT NULL AND :now > fin + :grace THEN 'expired'
                      ELSE 'active' END AS state
          FROM c)
        SELECT CASE WHEN status IS NOT 'active' AND view IS NOT NULL THEN view
               WHEN view IS NULL THEN
                 json_set(record, '$._path', '_bus/claims/' || key || '.json',
                          '$.lease_state', state,
                          '$.lease_seconds_left',
                          CASE WHEN fin IS NULL OR state != 'active' THEN NULL
                               ELSE max(fin - :now, 0) END)
               ELSE view || ',"lease_seconds_left":'
                         || CASE WHEN fin IS NULL OR state != 'active' THEN 'null'
                                 ELSE max(fin - :now, 0) END
                         || ',"lease_state":"' || state || '"}}' END
        FROM s ORDER BY key"""
    return sql, named


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
    """The whole `status --json` document from an index that is current: claims and the
    last `limit` events (each with `_index`, 1 = newest) come out of SQLite as JSON text;
    `filters` is the filters object, already JSON."""
    sql, named = claims_sql(agents, active_only)
    named.update(now=now, ttl=ttl, grace=grace)
    claims = [row[0] for row in db.execute(sql, named)]
    where, args = log_where("events", since, agents or None)
    events = [
        row[0]
        for row in db.execute(
            f"SELECT json_set(record, '$._index', row_number() OVER ({NEWEST_FIRST})) "
            f"FROM logs WHERE {where} {NEWEST_FIRST} LIMIT {int(max(limit, 0))}",
            args,
        )
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
