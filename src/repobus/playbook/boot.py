"""`repobus boot` (the playbook's session_boot, FORMATS §9, §19): sync, handshake, peers,
session receipt.

Sync: a working tree with uncommitted changes to tracked files is refused unless allowed
(untracked files never block: `git pull --ff-only` itself refuses to overwrite them); then
`git pull --ff-only` when the branch has an upstream, else `git fetch --prune`.  The handshake
is a `handshake` event with `branch_prefix`; peers are the other agents' active and paused
claims with when each holder was last seen, flagged stale by the one stale rule (an active
claim whose holder was silent for `repobus.staleAfter`, views/fleet.py).  The session receipt
`_report/session/<id>/manager-report-tail.txt` is what the session guard reads; a `session
wrap` writes it closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repobus.bus import Bus
from repobus.errors import ConflictError, RemoteError, SetupError, git_reason
from repobus.git.gitcmd import Repo
from repobus.git.ignore import ensure_excluded
from repobus.playbook import guard, session
from repobus.records import layout, models, times
from repobus.store import files
from repobus.views import fleet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PULL_TIMEOUT = 120.0


@dataclass
class Synced:
    action: str  # pulled | fetched | skipped
    detail: str


def dirty(repo: Repo) -> list[str]:
    res = repo.git("status", "--porcelain", "--untracked-files=no")
    return [ln for ln in res.stdout.decode("utf-8", "replace").splitlines() if ln.strip()]


def _first(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "no message")


def _pull_failed(stderr: str) -> Exception:
    """git's reason (its last meaningful line, not "From <url>") and the hint that fits it:
    a ref the remote rewound or rewrote (the fetch half refused it), or our branch diverged."""
    msg = git_reason(stderr)
    if "[rejected]" in stderr:
        return RemoteError(
            f"git pull --ff-only failed: {msg}",
            hint="a ref on the remote was rewound or rewritten (force-pushed), so git refused "
            "to fetch it; ask who rewrote it, `repobus sync` names bus refs; or boot --no-sync",
        )
    if "fast-forward" in stderr or "diverg" in stderr:
        return ConflictError(
            f"git pull --ff-only failed: {msg}",
            hint="your branch and its upstream diverged: rebase or merge it, then boot again",
        )
    return RemoteError(
        f"git pull --ff-only failed: {msg}",
        hint="check the network and `git remote -v`, or boot with --no-sync",
    )


def sync_git(repo: Repo, allow_dirty: bool = False) -> Synced:
    changed = dirty(repo)
    if changed and not allow_dirty:
        raise SetupError(
            f"working tree has {len(changed)} uncommitted change(s) to tracked files "
            f"({changed[0].strip()}); refusing to sync",
            hint="commit or stash them, pass --allow-dirty, or boot with --no-sync",
        )
    if not repo.git("remote").stdout.strip():
        return Synced("skipped", "no remote configured: nothing to pull")
    upstream = repo.git("rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}", check=False)
    if upstream.returncode != 0:
        res = repo.git("fetch", "--prune", check=False, timeout=PULL_TIMEOUT)
        if res.returncode != 0:
            raise RemoteError(f"git fetch --prune failed: {git_reason(res.stderr)}")
        return Synced("fetched", "the branch has no upstream: fetched only (git fetch --prune)")
    res = repo.git("pull", "--ff-only", check=False, timeout=PULL_TIMEOUT)
    if res.returncode != 0:
        raise _pull_failed(res.stderr)
    return Synced(
        "pulled",
        f"git pull --ff-only ({upstream.stdout.decode().strip()}): "
        f"{_first(res.stdout.decode('utf-8', 'replace'))}",
    )


def current_branch(repo: Repo) -> str | None:
    res = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    return res.stdout.decode().strip() or None


@dataclass
class Booted:
    agent: str
    branch: str | None
    handshake: dict[str, Any] | None
    peers: list[dict[str, Any]]
    receipt: str
    captured_at: str
    closed: bool
    warnings: list[str] = field(default_factory=list)


def peers(bus: Bus, agent: str, now: int) -> list[dict[str, Any]]:
    """The other agents' active and paused claims, each with its holder's last seen and
    whether it is stale (views/fleet.py: one rule, one "last seen" for every door)."""
    claims = {s.key: s.record for s in bus.store.list("claims")}
    seen = fleet.last_seen(bus, claims.values())
    found = fleet.stale(now, claims, seen, fleet.window(bus))
    out = []
    for task, rec in sorted(claims.items()):
        holder = str(rec.get("agent_id") or "")
        if holder == agent or rec.get("status") not in ("active", "paused"):
            continue
        state, left = bus.lease_fields(rec, now)
        out.append(
            {
                "agent_id": holder,
                "task_id": task,
                "status": rec.get("status"),
                "branch": rec.get("branch"),
                "notes": rec.get("notes"),
                "last_seen": seen[holder]["ts"] if holder in seen else None,
                "lease_state": state,
                "lease_seconds_left": left,
                "stale": task in found,
            }
        )
    return out


def _warnings(bus: Bus, agent: str, branch: str | None) -> list[str]:
    out = []
    declared = session.manifest_agent(bus.repo.root)
    if declared and declared != agent:
        out.append(
            f"AGENT_MANIFEST.json declares '{declared}' but this session is '{agent}' "
            f"(repobus manifest use {agent})"
        )
    ok = (
        branch is None
        or branch in ("main", "master", f"agent/{agent}")
        or branch.startswith(f"agent/{agent}/")
    )
    if not ok:
        out.append(
            f"branch {branch} is not under agent/{agent}/; work on agent/{agent}/<slug> "
            "(repobus branch SLUG)"
        )
    return out


def boot(
    bus: Bus,
    agent: str,
    *,
    now: int,
    summary: str,
    focus: str | None = None,
    announce: bool = True,
    wrap: bool = False,
    tail_count: int = 10,
    confidence: float | None = None,
    confidence_note: str | None = None,
) -> Booted:
    root = bus.repo.root
    branch = current_branch(bus.repo)
    warnings = _warnings(bus, agent, branch)
    # every read first: a boot that fails on a damaged record must not have written anything
    peer_list = peers(bus, agent, now)
    count = tail_count if tail_count > 0 else 10
    lines = [models.message_line(m) for m in bus.messages(task=layout.MANAGER_LANE, limit=count)]
    handshake = None
    if announce:
        extra: dict[str, Any] = {"branch_prefix": f"agent/{agent}/"}
        if focus:
            extra["meta"] = {"focus": focus}
        if wrap:
            extra["session"] = "wrap"
        handshake = bus.log(agent, "handshake", summary, extra=extra).record
    if confidence is not None:
        files.append_line(
            root / "_report" / "agent" / agent / "confidence.jsonl",
            models.event_line(
                {
                    "ts": times.fmt(now),
                    "agent": agent,
                    "confidence": confidence,
                    "note": confidence_note,
                }
            ),
        )
    captured = times.fmt(now)
    path = guard.receipt_path(root, agent)
    ensure_excluded(bus.repo, "/_report/session/")
    files.write_atomic(
        path,
        guard.receipt_text(
            captured, lines, count, agent=agent, branch=branch, closed_at=captured if wrap else None
        ),
    )
    return Booted(
        agent,
        branch,
        handshake,
        peer_list,
        str(path.relative_to(root)),
        captured,
        wrap,
        warnings,
    )


def is_wrap(summary: str | None) -> bool:
    return bool(summary) and str(summary).strip().lower().startswith("session wrap")
