"""Integrating a fetch: the tracking refs of the remote's bus move only forward.

A fetch lands in a private quarantine namespace (store/remote.py); from there each tracking ref
under `refs/repobus-remote/<remote>/` moves only by fast-forward.  Invariants:
- a remote ref rewritten (neither a descendant nor an ancestor of what was tracked) is refused
  and named, and the tracking ref keeps its value;
- a remote ref rewound (a strict ancestor of what was tracked *before the fetch asked*: the
  remote once held that tip, and chains there only grow) is refused and named as truncated;
  a fetched tip behind a tracking ref moved *during* the fetch (our own push) is just older
  news and is skipped silently;
- with the whole bus fetched, a tracked ref the remote no longer has was either archived there
  (its archive holds the slot at the tracked tip or later: the tracking ref goes) or deleted
  (refused and named: this clone keeps its copy);
- the moves are one `update-ref --stdin` transaction; if it fails (another fetch of this clone
  moved a ref, or a lock), each ref is settled on its own.
"""

from __future__ import annotations

from repobus.git import gitcmd
from repobus.records.layout import ROOT
from repobus.store.failures import FetchResult

TYPE_CHECKING = False
if TYPE_CHECKING:
    from repobus.store.remote import Remote


def integrate(
    remote: Remote, fetched: dict[str, str], whole: bool, before: dict[str, str]
) -> FetchResult:
    """Move the tracking refs to what a fetch brought into quarantine (`fetched`, names
    under refs/repobus/): only forward; with the whole bus fetched, name what is gone.
    `before`: the tracking refs read before the fetch reached the remote."""
    tracking = remote.tracking_heads()
    result = FetchResult([], {})
    script = []
    for name, oid in sorted(fetched.items()):
        old = tracking.get(name)
        if old == oid or (old is not None and _behind(remote, name, oid, old, result)):
            _rewound(remote, name, oid, before.get(name), result)
            continue
        script.append(f"update {remote.track_prefix}{name} {oid} {old or gitcmd.zero_oid()}\n")
        result.updated.append(f"{ROOT}/{name}")
    if whole:
        script += _gone(remote, tracking, fetched, result)
    if script:
        _apply(remote, script, result)
    return result


def _behind(remote: Remote, name: str, oid: str, old: str, result: FetchResult) -> bool:
    """Whether the fetched `oid` must not replace the tracked `old`: an older copy than
    ours (a slower fetch, or our own push), or a rewrite (refused and named)."""
    if remote.is_ancestor(old, oid):
        return False
    if not remote.is_ancestor(oid, old):
        result.refused[f"{ROOT}/{name}"] = (
            f"remote '{remote.name}' rewrote {ROOT}/{name} (not a fast-forward of "
            f"{old[:12]}): refusing to take it"
        )
    return True


def _rewound(remote: Remote, name: str, oid: str, known: str | None, result: FetchResult) -> None:
    """Name a truncated chain: the remote now holds a strict ancestor of a tip it held before
    this fetch asked (`known`).  Tracking refs only ever take values the remote held, and a
    concurrent push moves them only to newer ones, so this cannot be a slower fetch."""
    ref = f"{ROOT}/{name}"
    if known is None or known == oid or ref in result.refused:
        return
    if remote.is_ancestor(oid, known):
        result.refused[ref] = (
            f"remote '{remote.name}' rewound {ref} to {oid[:12]}, behind {known[:12]} it held "
            "before (records were dropped there): refusing to take it"
        )


def _gone(
    remote: Remote, tracking: dict[str, str], fetched: dict[str, str], result: FetchResult
) -> list[str]:
    """Tracked refs the remote no longer has: archived there (their tracking refs go; the
    archive map is read once) or deleted (refused and named, this clone keeps its copy)."""
    from repobus.store import archive

    gone = sorted(set(tracking) - set(fetched))
    held = archive.entries(remote.repo, fetched.get("archive")) if gone else {}
    script = []
    for name in gone:
        tip = tracking[name]
        if archive.kept(remote.repo, held, name, tip):
            script.append(f"delete {remote.track_prefix}{name} {tip}\n")
        else:
            result.refused[f"{ROOT}/{name}"] = (
                f"remote '{remote.name}' deleted {ROOT}/{name}: keeping this clone's copy"
            )
    return script


def _apply(remote: Remote, script: list[str], result: FetchResult) -> None:
    """One transaction; if it fails (a tracking ref moved meanwhile: another fetch of this
    clone, or a lock), settle the refs one by one."""
    res = gitcmd.run(
        remote.repo.root, "update-ref", "--stdin", stdin="".join(script).encode(), check=False
    )
    if res.returncode == 0:
        return
    for line in script:
        if line.startswith("delete "):  # an archived slot: the next fetch retries
            gitcmd.run(remote.repo.root, "update-ref", "--stdin", stdin=line.encode(), check=False)
            continue
        _, ref, new, _old = line.split()
        if not remote._settle(ref, new):
            name = ref[len(remote.track_prefix) :]
            result.updated.remove(f"{ROOT}/{name}")
            result.stuck[f"{ROOT}/{name}"] = (
                f"cannot update {ref}: locked; if no other repobus is running, "
                "`repobus doctor --fix` clears a stale lock"
            )
