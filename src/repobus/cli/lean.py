"""The lean read path: `repobus status --json`, the command agents poll, answered before the
CLI, the command table or SQLite is imported.

At a million events its cost must be Python's start-up plus reading the status snapshot, so
it imports only `os`, `time` and the light modules it shares with the full command (repository
location, config parsing, fingerprints: each has one definition, in git/; the command line is
read by the fast parser of cli/spec.py from the status command's own specification,
cli/table_status.py, never the whole command table).  `serve_status`
answers only when everything it needs is current - the snapshot matches the refs, the mirror
(when it applies) matches the refs, no option it does not know - and otherwise returns None,
and the full command answers (catching the index up first).
"""

from __future__ import annotations

import os
import time

from repobus.cli.spec import defaults, parse_fast
from repobus.cli.table_status import STATUS
from repobus.git.config import find
from repobus.git.fingerprint import generation, mirror_state, ref_signature, unpushed_path
from repobus.git.policy import mirror_applies
from repobus.records.shown import MAX_PAGE_SIZE, Listing

_LIMIT = next(o for o in STATUS.opts if o.flag == "--limit")
DEFAULT_LIMIT: int = _LIMIT.default


def _options(args: list[str]) -> tuple[int, int] | None:
    """The limit and the page size of `--json [--limit N] [--page-size N]`, read by the
    shared fast parser from the status command's own specification; None for anything else
    (any other option - `--all`, `--cursor`, `--since` -, a negative or huge number, a word
    that is not plain ASCII): the full command answers those."""
    if not all(a.isascii() for a in args):
        return None  # int() reads other scripts' digits; the full command reports them
    parsed = parse_fast({STATUS.name: STATUS}, [STATUS.name, *args])
    if parsed is None:
        return None
    values = parsed[1]
    limit, size = values.pop("limit"), values.pop("page_size")
    if values.pop("json") is not True or not 0 <= limit < 10**9:
        return None
    if not 1 <= size <= MAX_PAGE_SIZE:
        return None  # the full command says what is wrong with it
    return (limit, size) if values == _PLAIN else None


_PLAIN = {k: v for k, v in defaults(STATUS).items() if k not in ("limit", "json", "page_size")}


def _may_set_up(root: str, sections: dict[str, dict[str, str]]) -> bool:
    """Whether a clone that is not set up has something to set itself up from or to ask:
    a `.repobus.toml`, or a remote (project.ensure_set_up)."""
    from repobus.store.project import FILE

    return os.path.exists(os.path.join(root, FILE)) or any(
        s.startswith("remote.") for s in sections
    )


def serve_status(args: list[str]) -> bytes | None:
    """The output of `repobus status ARGS` when this lean path can give it; None when the
    full command must answer (other options, no current index, a mirror to refresh, the dir
    backend, a clone not set up that has a `.repobus.toml` or a remote, anything unexpected -
    the full command then reports it properly)."""
    asked = _options(args)
    if asked is None:
        return None
    limit, size = asked
    try:
        found = find()
        if found is None:
            return None
        cfg, common = found.cfg, found.common
        if cfg.backend != "git" or not cfg.index:
            return None
        if not cfg.initialized and _may_set_up(found.root, found.sections):
            return None  # the full command follows .repobus.toml or asks the remote first
        if mirror_applies(cfg) and mirror_state(found.root, found.git_dir, common) is None:
            return None
        if cfg.remote and os.path.exists(unpushed_path(common)):
            return None  # the full command names the records the remote does not have yet
        from repobus.store import snapshot

        data = snapshot.read(snapshot.path_in(common))
        gen = generation(common)  # before the fingerprint: a write in between then shows
        if data is None or not snapshot.fresh(data, ref_signature(common)[0], gen, time.time_ns()):
            return None
        now = int(time.time())
        listing = Listing.of(now, size=size)
        filters = snapshot.filters_text(limit, listing)
        return snapshot.render(
            data,
            now=now,
            ttl=cfg.ttl,
            grace=cfg.grace,
            limit=limit,
            filters=filters,
            listing=listing,
        )
    except Exception:  # the full command answers, and reports whatever went wrong
        return None
