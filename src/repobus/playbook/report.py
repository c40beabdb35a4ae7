"""The manager report (`_report/manager/manager-report-<timestamp>.md`, playbook step 10).

Sections: claims and leases, stale claims, assignments, activity per agent, each task (the
original's `## <id> — <title>` blocks with its assignment, claim, events and messages),
audits, plans missing receipts, pull requests opened.  The file name has no `:` (portable)
and is created exclusively, so two reports in one second never overwrite each other.
"""

from __future__ import annotations

from pathlib import Path

from repobus.bus import Bus
from repobus.errors import BusError
from repobus.playbook import plans
from repobus.playbook.heartbeat import stale_claims
from repobus.playbook.tasks import read_registry
from repobus.records import layout, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _claim_line(bus: Bus, rec: dict[str, Any], now: int) -> str:
    state, left = bus.lease_fields(rec, now)
    lease = f"lease {times.human(left)} left" if left is not None and state == "active" else state
    token = rec.get("fencing_token")  # a claim the original tools wrote has none: `-`
    return (
        f"{rec.get('agent_id')} [{rec.get('status')}] → {rec.get('branch') or '-'} "
        f"(token {'-' if token is None else token}, {lease})"
    )


def _txt(value: Any) -> str:
    """A field a record the original tools wrote may lack, as text: `-`, never `None`."""
    return "-" if value is None or value == "" else str(value)


def collect(bus: Bus, root: Path, now: int) -> dict[str, Any]:
    claims = {s.key: s.record for s in bus.store.list("claims")}
    assigned = {s.key: s.record for s in bus.store.list("assignments")}
    events = [e.record for e in bus.store.tail("events")]
    entries = bus.store.tail("messages")
    messages = [e.record for e in entries]
    lanes: dict[str, int] = {}  # messages per thread, the lanes without a task_id included
    for e in entries:
        lane = layout.lane(e.record, e.chain)
        lanes[lane] = lanes.get(lane, 0) + 1
    try:
        registry = {
            str(t.get("id")): t for t in read_registry(root)["tasks"] if isinstance(t, dict)
        }
    except BusError:  # a broken registry must not stop the report
        registry = {}
    agents: dict[str, dict[str, Any]] = {}
    for who_key, count, recs in (("agent_id", "events", events), ("from", "messages", messages)):
        for rec in recs:
            a = agents.setdefault(
                str(rec.get(who_key)), {"events": 0, "messages": 0, "last_seen": None}
            )
            a[count] += 1
            if times.is_iso(rec.get("ts")) and (
                a["last_seen"] is None or str(rec["ts"]) > a["last_seen"]
            ):
                a["last_seen"] = str(rec["ts"])
    _, plan_issues = plans.check(root, bus)
    return {
        "claims": claims,
        "assignments": assigned,
        "events": events,
        "messages": messages,
        "lanes": lanes,
        "registry": registry,
        "agents": agents,
        "stale": stale_claims(bus, now=now),
        "expired": sorted(k for k, r in claims.items() if bus.lease_state(r, now) == "expired"),
        "audits": [e for e in events if e.get("event") == "audit" or e.get("reviewer")],
        "prs": [e for e in events if e.get("event") == "pr_opened"],
        "plan_issues": [p for p in plan_issues if "receipt" in p],
    }


def render(bus: Bus, data: dict[str, Any], manager: str, now: int) -> str:
    out = [
        f"# Manager Report — {times.fmt(now)}",
        "",
        f"Manager: `{manager}`",
        "",
        "## Claims and leases",
        "",
    ]
    claims = data["claims"]
    out += [f"- {k}: {_claim_line(bus, r, now)}" for k, r in sorted(claims.items())] or [
        "- (no claims)"
    ]
    out += ["", "## Stale claims", ""]
    stale = [
        f"- {r['task_id']} by {r['agent_id']}: "
        + (
            f"untouched {r['hours_stale']} h (last touch {r['last_touch']})"
            if r["last_touch"]
            else "never touched (no activity on record)"
        )
        for r in data["stale"]
    ]
    stale += [
        f"- {k} by {claims[k].get('agent_id')}: lease expired (may be taken over)"
        for k in data["expired"]
    ]
    out += stale or ["- (none)"]
    out += ["", "## Assignments", ""]
    out += [
        f"- {k} → `{_txt(a.get('engineer'))}` by {_txt(a.get('manager'))} at "
        f"{_txt(a.get('assigned_at'))}"
        f" (plan: {a.get('plan_id') or 'N/A'})"
        for k, a in sorted(data["assignments"].items())
    ] or ["- (none)"]
    out += ["", "## Activity per agent", ""]
    out += [
        f"- `{a}`: {v['events']} events, {v['messages']} messages, last seen "
        f"{v['last_seen'] or '-'}"
        for a, v in sorted(data["agents"].items())
    ] or ["- (none)"]
    out += ["", "## Messages per thread", ""]
    out += [f"- `{k}`: {n} messages" for k, n in sorted(data["lanes"].items())] or ["- (none)"]
    for task in sorted(set(data["registry"]) | set(claims) | set(data["assignments"])):
        out += ["", *_task_block(bus, task, data, now)]
    out += ["", "## Audits", ""]
    out += [
        f"- {e.get('ts')} {e.get('agent_id')} reviewed"
        f"{' for ' + str(e['reviewer']) if e.get('reviewer') else ''}"
        f" (task {e.get('task_id') or '-'}): {e.get('summary')}"
        for e in data["audits"]
    ] or ["- (none)"]
    out += ["", "## Plans missing receipts", ""]
    out += [f"- {p}" for p in data["plan_issues"]] or ["- (none)"]
    out += ["", "## Pull requests opened", ""]
    out += [
        f"- {e.get('ts')} {e.get('agent_id')}: task {e.get('task_id') or '-'} PR "
        f"{e.get('pr') or '?'}{' ' + str(e['url']) if e.get('url') else ''}"
        for e in data["prs"]
    ] or ["- (none)"]
    return "\n".join(out) + "\n"


def _task_block(bus: Bus, task: str, data: dict[str, Any], now: int) -> list[str]:
    reg = data["registry"].get(task, {})
    asg = data["assignments"].get(task)
    claim = data["claims"].get(task)
    out = [f"## {task} — {reg.get('title') or task}"]
    if reg:
        out.append(
            f"- Role: {reg.get('role')} · priority: {reg.get('priority')} · "
            f"status: {reg.get('status')}"
        )
    plan = (claim or {}).get("plan_id") or (asg or {}).get("plan_id") or reg.get("plan_id")
    out.append(f"- Plan: {plan or 'N/A'}")
    if asg:
        note = f" (note: {asg['note']})" if asg.get("note") else ""
        out.append(
            f"- Assigned to `{_txt(asg.get('engineer'))}` at {_txt(asg.get('assigned_at'))}{note}"
        )
    if claim:
        out.append(f"- Current claim: {_claim_line(bus, claim, now)}")
        if claim.get("notes"):
            out.append(f"- Claim notes: {claim['notes']}")
    evs = [e for e in data["events"] if e.get("task_id") == task]
    if evs:
        out.append("- Events:")
        out += [
            f"  - {e.get('ts')} :: {e.get('agent_id')} :: {e.get('event')} :: {e.get('summary')}"
            for e in evs
        ]
    msgs = [m for m in data["messages"] if m.get("task_id") == task]
    if msgs:
        out.append("- Messages:")
        out += [f"  - {m.get('ts')} :: {m.get('from')}: {m.get('summary')}" for m in msgs]
    return out


def write(root: Path, text: str, now: int) -> Path:
    stamp = times.fmt(now).replace("-", "").replace(":", "")
    return files.create_numbered(
        root / "_report" / "manager", f"manager-report-{stamp}", ".md", text
    )
