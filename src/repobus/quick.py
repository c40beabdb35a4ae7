"""The lean read path.

`repobus status --json` is the command agents poll.  At a million events its cost must be
Python's start-up plus one SQLite query, so this module imports only `os` and `time` (and
`sqlite3` when there is an index to read): no `re`, `json`, `pathlib` or command table.

It holds what that path shares with the rest of repobus, so each has one definition:
finding the repository (`locate`), reading git's config file (`read_config`), the ref
fingerprints of the index and the `_bus/` mirror, and the SQL of status.  `serve_status`
answers `status --json` by itself when everything it needs is current - the index matches
the refs, the mirror (when it applies) matches the refs, no option it does not know - and
otherwise returns None, and the full command answers (catching the index up first).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

ROOT = "refs/repobus"
SLOT_KINDS = ("claims", "assignments")
LOG_KINDS = ("events", "messages")
INDEX_SCHEMA = "4"
INDEX_FILE = "index.sqlite3"
NEWEST_FIRST = "ORDER BY ts DESC, chain DESC, seq DESC"
MMAP = "PRAGMA mmap_size=268435456"
DEFAULT_LIMIT = 10  # status's --limit default in the command table (a test holds them equal)


# -- the repository -----------------------------------------------------------------------
def locate(start: str) -> tuple[str, str, str] | None:
    """(worktree root, git dir, common dir) of the clone or worktree holding `start` (a
    resolved, existing directory), in plain path strings; None for a layout this does not
    recognise (the caller asks git)."""
    d = start
    while True:
        dot = os.path.join(d, ".git")
        if os.path.isdir(dot):
            if os.path.exists(os.path.join(dot, "HEAD")):
                return d, dot, _common(dot)
        elif os.path.isfile(dot):
            gd = _gitfile(dot)
            if gd is not None and os.path.exists(os.path.join(gd, "HEAD")):
                return d, gd, _common(gd)
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _gitfile(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
    except (OSError, ValueError):
        return None
    if not text.startswith("gitdir:"):
        return None
    target = text[len("gitdir:") :].strip()
    if os.path.isabs(target):
        return target
    return os.path.realpath(os.path.join(os.path.dirname(path), target))


def _common(git_dir: str) -> str:
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as fh:
            rel = fh.read().strip()
    except (OSError, ValueError):
        return git_dir
    return rel if os.path.isabs(rel) else os.path.realpath(os.path.join(git_dir, rel))


# -- git's config file (the subset repobus reads) --------------------------------------------
_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_KEY_CHARS = _ALPHA | frozenset("0123456789-")
_SECTION_CHARS = _KEY_CHARS | frozenset(".")


def read_config(path: str) -> dict[str, dict[str, str]]:
    """`{section(.subsection): {key(lower): value}}` from a git config file: sections,
    `"subsections"`, `key = value`, bare keys (true), `#`/`;` comments."""
    out: dict[str, dict[str, str]] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return out
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0] if '"' not in raw else raw
        if not line.strip():
            continue
        head = _section(line)
        if head is not None:
            name, sub, line = head
            current = name.lower() + (f".{sub}" if sub is not None else "")
            if not line.strip():
                continue
        pair = _key(line)
        if pair is not None and current:
            value = (pair[1] or "true").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.setdefault(current, {})[pair[0].lower()] = value
    return out


def _run(s: str, chars: frozenset[str]) -> int:
    j = 0
    while j < len(s) and s[j] in chars:
        j += 1
    return j


def _section(line: str) -> tuple[str, str | None, str] | None:
    """`[name "sub"] rest` -> (name, sub, rest); None when the line is no section header."""
    s = line.lstrip()
    if not s.startswith("["):
        return None
    s = s[1:].lstrip()
    j = _run(s, _SECTION_CHARS)
    if j == 0:
        return None
    name, rest, sub = s[:j], s[j:].lstrip(), None
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            return None
        sub, rest = rest[1:end], rest[end + 1 :].lstrip()
    if not rest.startswith("]"):
        return None
    return name, sub, rest[1:].lstrip()


def _key(line: str) -> tuple[str, str | None] | None:
    """`key = value` -> (key, value); `key` -> (key, None); None otherwise."""
    s = line.lstrip()
    if not s or s[0] not in _ALPHA:
        return None
    j = _run(s, _KEY_CHARS)
    name, rest = s[:j], s[j:].lstrip()
    if not rest:
        return name, None
    if rest[0] != "=":
        return None
    return name, rest[1:].lstrip()


# -- fingerprints of the ref storage ----------------------------------------------------------
def _stat(path: str) -> list[int]:
    """(mtime_ns, size, inode) of `path`; zeros when it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return [0, 0, 0]
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def kind_signature(common: str, kind: str) -> tuple[int, ...]:
    """Changes whenever a ref of `kind` moves: two `stat` calls (its loose-ref directory,
    packed-refs), as (mtime_ns, size, inode) each; zeros for a missing one."""
    return (*_stat(os.path.join(common, ROOT, kind)), *_stat(os.path.join(common, "packed-refs")))


def mirror_text(sig: dict[str, list[int]]) -> str:
    """How the `_bus/` mirror records the fingerprint it is current with."""
    return ";".join(f"{k}:" + ",".join(str(n) for n in v) for k, v in sig.items())


def mirror_signature(common: str) -> dict[str, list[int]]:
    """`kind_signature` of every kind, packed-refs looked at once."""
    packed = _stat(os.path.join(common, "packed-refs"))
    return {k: [*_stat(os.path.join(common, ROOT, k)), *packed] for k in (*SLOT_KINDS, *LOG_KINDS)}


def mirror_applies(cfg: Any) -> bool:
    """The git backend keeps a `_bus/` mirror in every worktree of a set-up repository,
    unless `repobus.mirror` is false."""
    from repobus import policy

    return bool(cfg.initialized) and policy.mirror_enabled(cfg)


def mirror_state(root: str, git_dir: str, common: str) -> str | None:
    """'disabled' (the worktree tracks its own `_bus/`), 'current' (the mirror matches the
    refs), or None: a refresh must look."""
    try:
        with open(os.path.join(git_dir, "repobus-mirror.sig"), encoding="utf-8") as fh:
            saved = fh.read()
    except (OSError, ValueError):
        return None
    if saved == "disabled":
        return "disabled"
    if saved == mirror_text(mirror_signature(common)) and os.path.isdir(os.path.join(root, "_bus")):
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


# -- the SQL of status -------------------------------------------------------------------------
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


# -- serving `status --json` ----------------------------------------------------------------------
def _options(args: list[str]) -> int | None:
    """The limit of `--json [--limit N]`; None for anything else."""
    limit, json_seen = DEFAULT_LIMIT, False
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--json":
            json_seen = True
        elif a == "--limit" and i + 1 < len(args) and _digits(args[i + 1]):
            limit = int(args[i + 1])
            i += 1
        elif a.startswith("--limit=") and _digits(a[8:]):
            limit = int(a[8:])
        else:
            return None
        i += 1
    return limit if json_seen else None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 10


def _may_set_up(root: str, sections: dict[str, dict[str, str]]) -> bool:
    """Whether a clone that is not set up has something to set itself up from or to ask:
    a `.repobus.toml`, or a remote (project.ensure_set_up)."""
    from repobus.project import FILE

    return os.path.exists(os.path.join(root, FILE)) or any(
        s.startswith("remote.") for s in sections
    )


def unpushed_path(common: str) -> str:
    """The marker a remote store leaves while this clone holds records the remote lacks."""
    return os.path.join(common, "repobus", "unpushed")


def serve_status(args: list[str]) -> bytes | None:
    """The output of `repobus status ARGS` when this lean path can give it; None when the
    full command must answer (other options, no current index, a mirror to refresh, the dir
    backend, a clone not set up that has a `.repobus.toml` or a remote, anything unexpected -
    the full command then reports it properly)."""
    limit = _options(args)
    if limit is None:
        return None
    try:
        found = locate(os.path.realpath(os.getcwd()))
        if found is None:
            return None
        root, git_dir, common = found
        from repobus import config

        sections = read_config(os.path.join(common, "config"))
        cfg = config.from_sections(sections)
        if cfg.backend != "git" or not cfg.index:
            return None
        if not cfg.initialized and _may_set_up(root, sections):
            return None  # the full command follows .repobus.toml or asks the remote first
        if mirror_applies(cfg) and mirror_state(root, git_dir, common) is None:
            return None
        if cfg.remote and os.path.exists(unpushed_path(common)):
            return None  # the full command names the records the remote does not have yet
        from repobus import snapshot

        data = snapshot.read(snapshot.path_in(common))
        sig = snapshot.sig_of(data)
        if data is None or not sig or sig != ref_signature(common)[0]:
            return None
        return snapshot.render(
            data,
            now=int(time.time()),
            ttl=cfg.ttl,
            grace=cfg.grace,
            limit=limit,
            filters=f'{{"active_only":false,"agents":[],"limit":{limit},"since":null}}',
        )
    except Exception:  # the full command answers, and reports whatever went wrong
        return None
