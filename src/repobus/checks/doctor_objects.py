"""`repobus doctor`'s checks of the bus's git objects: every chain's commits present (a
`git gc --prune=now` beside a writer can delete one), and loose objects against the packing
threshold.  With fix: fetch a missing chain again from the remote (or move the chain back to its
newest readable record when the remote never had it), pack the bus's own loose objects.
"""

from __future__ import annotations

from typing import Any

from repobus.bus import Bus
from repobus.checks.findings import finding as _finding
from repobus.git import gitcmd

# -- bus objects (housekeeping) ------------------------------------------------------------------
OBJECTS_CHECK = "bus objects present"


def bus_objects(bus: Bus, fix: bool) -> dict[str, str]:
    """Every commit of every bus chain is present (`git gc --prune=now` beside a writer can
    delete one); with a remote, --fix fetches the damaged chains again."""
    from repobus.store import housekeeping

    store: Any = bus.store
    if store.refs_root is None:
        return _finding(OBJECTS_CHECK, "ok", "dir backend: no git objects")
    heads = store.all_heads()
    damaged = housekeeping.scan(store.repo, heads)
    if not damaged:
        return _finding(
            OBJECTS_CHECK, "ok", f"every commit of the {len(heads)} bus chain(s) is here"
        )
    if fix and store.remote_name is not None:
        done: dict[str, str] = {}
        for _ in range(2):  # again once: git refuses a fetch while another chain is damaged
            done.update((d.ref, _refetch(store, d)) for d in damaged)
            damaged = housekeeping.scan(store.repo, store.all_heads())
            if not damaged:
                return _finding(OBJECTS_CHECK, "ok", "fixed: " + "; ".join(done.values()))
    shown = "; ".join(
        f"{housekeeping.describe(d)}: {housekeeping.repair(bus.repo, bus.cfg, d)}"
        for d in damaged[:3]
    )
    more = f" (and {len(damaged) - 3} more chain(s))" if len(damaged) > 3 else ""
    return _finding(OBJECTS_CHECK, "problem", shown + more)


def _refetch(store: Any, damage: Any) -> str:
    """Fetch a damaged chain again.  A missing tip the remote never had (not pushed yet) is
    lost: the chain goes back to its newest readable record first, since git refuses every
    fetch while a ref names a missing object."""
    from repobus.errors import BusError

    try:
        if not damage.tip:  # a plain fetch trusts the history below our tip: fetch it whole
            _fetch_again(store, damage.ref)
            return _outcome(store, damage, "re-fetched its whole history from the remote")
        theirs = store.remote.ls(damage.ref)
        if theirs is None:
            return f"{damage.ref}: cannot reach the remote to fetch it again"
        lost = _rewind(store, damage) if theirs != damage.oid else ""
        store.remote.fetch(damage.ref[len("refs/repobus/") :])
        store.integrate([damage.ref])
    except BusError as exc:
        return f"{damage.ref}: cannot fetch it again: {exc.message}"
    return _outcome(store, damage, "re-fetched it from the remote", lost)


def _outcome(store: Any, damage: Any, done: str, otherwise: str = "") -> str:
    from repobus.store import housekeeping

    present = store.repo.git("cat-file", "-e", damage.oid, check=False).returncode == 0
    if present and housekeeping.probe(store.repo, damage.ref, _tip(store, damage.ref)) is None:
        return f"{damage.ref}: {done}"
    return otherwise or f"{damage.ref}: the remote has no copy of commit {damage.oid[:12]}"


def _tip(store: Any, ref: str) -> str:
    return str(store.all_heads().get(ref, ""))


def _fetch_again(store: Any, ref: str) -> None:
    """`git fetch --refetch` of one chain: all its objects, whatever we claim to have."""
    res = gitcmd.run(
        store.repo.root,
        "fetch",
        "--refetch",
        "--no-tags",
        "--no-write-fetch-head",
        "--quiet",
        "--refmap=",
        store.remote.name,
        ref,
        check=False,
        timeout=store.cfg.remote_timeout,
    )
    if res.returncode != 0:
        from repobus.errors import RemoteError

        raise RemoteError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed")


def _rewind(store: Any, damage: Any) -> str:
    """Point the chain at the newest readable record the clone knows (the derived index,
    else the remote's copy): the records after it were never pushed and are lost."""
    from repobus.store import housekeeping

    tracked = store.remote.current(store.remote.tracking(damage.ref))
    known = housekeeping.newest_present(store.repo, damage.ref)
    if known and (tracked is None or store.remote.is_ancestor(tracked, known)):
        back = known
    elif tracked and housekeeping.probe(store.repo, damage.ref, tracked) is None:
        back = tracked
    else:
        return ""
    moved = store.repo.git("update-ref", damage.ref, back, damage.oid, check=False)
    if moved.returncode != 0:
        return f"{damage.ref}: could not move it back to {back[:12]}: {moved.stderr.strip()}"
    return (
        f"{damage.ref}: commit {damage.oid[:12]} was never pushed and is lost; "
        f"the chain goes on from {back[:12]}"
    )


def loose_objects(bus: Bus, fix: bool) -> dict[str, str]:
    """git's estimate of loose objects against the bus's packing threshold and gc.auto."""
    from repobus.store import housekeeping

    if bus.store.refs_root is None:
        return _finding("loose objects", "ok", "dir backend: no git objects")
    raw = bus.cfg.raw.get("packthreshold")
    if raw is not None and not raw.strip().isdigit():
        return _finding(
            "loose objects",
            "warning",
            f"repobus.packThreshold={raw!r} is not a whole number: the default (a quarter of "
            "gc.auto) is used instead; fix it with `git config repobus.packThreshold N`",
        )
    limit = housekeeping.threshold(bus.repo, bus.cfg)
    count = housekeeping.sampled(bus.repo.objects)
    if not housekeeping.due(count, limit):
        return _finding(
            "loose objects",
            "ok",
            f"about {count * 256} loose object(s); the bus packs past "
            + (f"{limit}" if limit else "- never (repobus.packThreshold=0)"),
        )
    if fix and housekeeping.pack(bus.repo):
        left = housekeeping.sampled(bus.repo.objects) * 256
        return _finding("loose objects", "ok", f"fixed: packed; about {left} loose object(s) left")
    return _finding(
        "loose objects",
        "warning",
        f"about {count * 256} loose object(s), past the bus's threshold {limit}: "
        "`repobus doctor --fix` packs the bus's own (git pack-objects; nothing is pruned)",
    )
