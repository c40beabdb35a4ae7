"""`repobus check --pr BASE..HEAD`: CI's check that a pull request was made under a claim.

Rules:
- the PR's branch is `agent/<id>/<slug>`;
- the task is the one whose claim names the branch, else the one a plan changed in the PR
  names (`task_id` or its bus link), else the claim whose task id is the slug;
- `<id>` holds that task's claim: active with an unexpired lease, or finished (done/released)
  by `<id>` no earlier than the PR's head commit;
- no task has two active claims, neither on the bus nor between the `_bus/claims/` files of
  BASE and HEAD (a committed bus) — the "duplicate claim" error says how to resolve it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from repobus.bus import Bus
from repobus.checks import check
from repobus.errors import CorruptError, NotFoundError, UsageError
from repobus.records import layout, models, times

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_BRANCH = re.compile(r"agent/([A-Za-z0-9][A-Za-z0-9._-]*)/(.+)\Z")


@dataclass
class PrVerdict:
    branch: str | None = None
    agent: str | None = None
    task: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def parse_range(spec: str) -> tuple[str, str]:
    base, sep, head = spec.partition("...") if "..." in spec else spec.partition("..")
    if not sep or not base or not head:
        raise UsageError(f"--pr takes BASE..HEAD (e.g. origin/main..HEAD), got {spec!r}")
    return base, head


def _rev(bus: Bus, rev: str) -> str:
    res = bus.repo.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if res.returncode != 0:
        raise NotFoundError(f"no such revision: {rev}", hint="fetch it first (git fetch)")
    return res.stdout.decode().strip()


def _branch(bus: Bus, head: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit.removeprefix("refs/heads/")
    name = head.removeprefix("refs/heads/")
    if (
        name != "HEAD"
        and bus.repo.git(
            "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False
        ).returncode
        == 0
    ):
        return name
    if head == "HEAD":
        res = bus.repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False)
        return res.stdout.decode().strip() or None
    return None


def _show(bus: Bus, rev: str, path: str) -> Any:
    res = bus.repo.git("show", f"{rev}:{path}", check=False)
    if res.returncode != 0:
        return None
    try:
        return models.loads(res.stdout, f"{rev}:{path}")
    except CorruptError:
        return None


def _changed(bus: Bus, base: str, head: str, folder: str) -> list[str]:
    res = bus.repo.git("diff", "--name-only", f"{base}...{head}", "--", folder, check=False)
    return [p for p in res.stdout.decode().splitlines() if p.strip()]


def _task_from_plans(bus: Bus, base: str, head: str) -> str | None:
    for path in _changed(bus, base, head, "_plans"):
        doc = _show(bus, head, path)
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("task_id"), str):
            return str(doc["task_id"])
        for link in doc.get("links") or []:
            at = layout.place_of(str((link or {}).get("ref", "")))
            if at is not None and at.kind == "claims":
                return at.key
    return None


def check_pr(bus: Bus, spec: str, branch: str | None = None) -> PrVerdict:
    base, head = parse_range(spec)
    _rev(bus, base)
    head_oid = _rev(bus, head)
    v = PrVerdict(branch=_branch(bus, head, branch))
    claims = {s.key: s.record for s in bus.store.list("claims")}
    check.check_duplicates(claims.values(), v.problems)
    _committed_duplicates(bus, base, head, v.problems)
    m = _BRANCH.match(v.branch or "")
    if m is None:
        v.problems.append(
            f"branch {v.branch or '(unknown)'} is not an agent branch "
            "agent/<id>/<slug>; agents open PRs from their own branches"
        )
        return v
    v.agent, slug = m.group(1), m.group(2)
    named = sorted(
        (k for k, r in claims.items() if r.get("branch") == v.branch),
        key=lambda k: claims[k].get("status") != "active",
    )
    v.task = (
        named[0]
        if named
        else _task_from_plans(bus, base, head)
        or next((k for k in claims if k.lower() == slug.lower()), None)
    )
    if v.task is None:
        v.problems.append(
            f"no task found for branch {v.branch}: no claim names it, no plan in "
            "the PR names one; claim the task with --branch " + str(v.branch)
        )
        return v
    when = int(bus.repo.git("show", "-s", "--format=%ct", head_oid).stdout.decode().strip())
    _holder(bus, v, claims.get(v.task), when)
    return v


def _holder(bus: Bus, v: PrVerdict, rec: dict[str, Any] | None, head_time: int) -> None:
    if rec is None:
        v.problems.append(
            f"task {v.task} has no claim; {v.agent} must claim it "
            f"(repobus claim --task {v.task}) before opening a PR"
        )
        return
    holder, status = rec.get("agent_id"), rec.get("status")
    if holder != v.agent:
        v.problems.append(
            f"task {v.task} is claimed by {holder} (status={status}), not by "
            f"{v.agent} whose branch {v.branch} this PR is"
        )
        return
    if status == "active" and not bus.is_expired(rec):
        v.notes.append(
            f"{v.agent} holds {v.task} (token {rec.get('fencing_token')}, lease "
            f"until {rec.get('lease_expires_at') or 'n/a'})"
        )
        return
    if status == "active":
        v.problems.append(
            f"the claim of {v.agent} on {v.task} expired (lease ended "
            f"{rec.get('lease_expires_at')}); renew it: repobus renew --task "
            f"{v.task}"
        )
        return
    released = times.parse_or_none(rec.get("released_at"))
    if status in ("done", "released") and released is not None and released >= head_time:
        v.notes.append(f"{v.agent} held {v.task} until {rec.get('released_at')} ({status})")
        return
    v.problems.append(
        f"{v.agent} does not hold {v.task}: claim status={status}"
        + (f" since {rec.get('released_at')}" if rec.get("released_at") else "")
    )


def _committed_duplicates(bus: Bus, base: str, head: str, problems: list[str]) -> None:
    for path in _changed(bus, base, head, layout.bus_path("claims")):
        old, new = _show(bus, base, path), _show(bus, head, path)
        if not (isinstance(old, dict) and isinstance(new, dict)):
            continue
        if old.get("status") == new.get("status") == "active" and old.get("agent_id") != new.get(
            "agent_id"
        ):
            check.check_duplicates([old, new], problems)
