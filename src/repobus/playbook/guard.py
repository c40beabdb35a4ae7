"""The session receipt and the session guard (the original session_guard, FORMATS §11).

`repobus boot` writes `_report/session/<agent>/manager-report-tail.txt`: a header with
`# captured_at=` and the tail of the manager-report lane.  With the repository policy
`repobus.sessionGuard` on, a bus write needs that receipt, fresh (default 1 h,
`repobus.sessionMaxAge`) and not closed by a `session wrap`.  Failures keep the original
codes (`session_missing`, `session_invalid`, `session_stale`, plus `session_closed`) and are
recorded in `_report/agent/<agent>/session_guard/events.jsonl`; an override is recorded as
`session_override`.  Unlike the original, the message names the agent (no `{agent_id}`).

`enforce` is the whole rule every door applies (playbook/doors.py): whether the policy asks
for a session, the max age (the door's own, else `repobus.sessionMaxAge`; a positive number
of seconds), the receipt, the override.
"""

from __future__ import annotations

from pathlib import Path

from repobus.errors import SetupError, UsageError
from repobus.git import policy
from repobus.records import layout, models, times
from repobus.store import files

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.git.config import Config

RECEIPT = "manager-report-tail.txt"
SOURCE = layout.bus_path(layout.MANAGER_REPORT)


def receipt_path(root: Path, agent: str) -> Path:
    return root / "_report" / "session" / agent / RECEIPT


def receipt_text(
    captured_at: str,
    lines: list[str],
    requested: int,
    *,
    agent: str,
    branch: str | None = None,
    closed_at: str | None = None,
) -> str:
    head = [
        "# manager-report tail",
        f"# source={SOURCE}",
        f"# captured_at={captured_at}",
        f"# requested_entries={requested}",
        f"# written_entries={len(lines)}",
        f"# agent={agent}",
    ]
    if branch:
        head.append(f"# branch={branch}")
    if closed_at:
        head.append(f"# closed_at={closed_at}")
    body = [ln.rstrip("\n") for ln in lines] or ["(manager-report log missing or empty)"]
    return "\n".join(head) + "\n\n" + "\n".join(body) + "\n"


def read_header(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                key, sep, value = line[1:].strip().partition("=")
                if sep:
                    out[key.strip()] = value.strip()
    except OSError:
        pass
    return out


class Verdict:
    __slots__ = ("ok", "code", "message", "details")

    def __init__(self, ok: bool, code: str, message: str, details: dict[str, Any]) -> None:
        self.ok, self.code, self.message, self.details = ok, code, message, details


def _run_boot(agent: str) -> str:
    return (
        f"Run `python -m tools.agent.session_boot --agent {agent} --with-status` "
        "before using bus commands."
    )


def assess(root: Path, agent: str, now: int, max_age: int) -> Verdict:
    path = receipt_path(root, agent)
    rel = str(path.relative_to(root))
    if not path.is_file():
        return Verdict(
            False,
            "session_missing",
            f"session guard: no manager-report tail for {agent}. {_run_boot(agent)}",
            {"receipt": rel},
        )
    head = read_header(path)
    captured = times.parse_or_none(head.get("captured_at"))
    if captured is None:
        return Verdict(
            False,
            "session_invalid",
            f"session guard: {rel} has no valid captured_at. {_run_boot(agent)}",
            {"receipt": rel},
        )
    if head.get("closed_at"):
        return Verdict(
            False,
            "session_closed",
            f"session guard: the session of {agent} was closed at "
            f"{head['closed_at']} (session wrap). {_run_boot(agent)}",
            {"receipt": rel, "closed_at": head["closed_at"]},
        )
    age = now - captured
    if age > max_age:
        return Verdict(
            False,
            "session_stale",
            f"session guard: session receipt for {agent} is stale ({age}s old, "
            f"max {max_age}s). {_run_boot(agent)}",
            {"receipt": rel, "age_seconds": age, "max_age_seconds": max_age},
        )
    return Verdict(True, "session_ok", "", {"receipt": rel, "age_seconds": age})


def _record(root: Path, agent: str, now: int, verdict: Verdict, code: str, context: str) -> None:
    entry = {
        "ts": times.fmt(now),
        "agent_id": agent,
        "code": code,
        "message": verdict.message,
        "context": context,
        **verdict.details,
    }
    files.append_line(
        root / "_report" / "agent" / agent / "session_guard" / "events.jsonl",
        models.event_line(entry),
    )


def ensure_recent_session(
    root: Path,
    agent: str,
    *,
    now: int,
    max_age: int,
    allow_stale: bool = False,
    context: str = "bus",
    override: str = "pass --allow-stale-session",
) -> Verdict:
    """Pass, or raise SetupError (exit 5) with the original wording.  Records failures.
    `override` says, in the hint, how this door lets a stale session through."""
    verdict = assess(root, agent, now, max_age)
    if verdict.ok:
        return verdict
    _record(root, agent, now, verdict, verdict.code, context)
    if allow_stale:
        _record(root, agent, now, verdict, "session_override", context)
        return verdict
    raise SetupError(verdict.message, hint=f"repobus boot --agent {agent}; or {override}")


def required(cfg: Config) -> bool:
    """Whether the repository's policy asks bus writes for a session (repobus.sessionGuard)."""
    return policy.session_guard(cfg)


def enforce(
    root: Path,
    agent: str,
    cfg: Config,
    *,
    now: int,
    max_age: int | None = None,
    allow_stale: bool = False,
    context: str = "bus",
    override: str = "pass --allow-stale-session",
) -> Verdict | None:
    """The session guard of one bus write by `agent`: None when the policy is off; else the
    verdict, or SetupError (exit 5).  `max_age` is the door's own freshness (the CLI's
    --session-max-age); none or 0 means the repository's `repobus.sessionMaxAge`."""
    if not required(cfg):
        return None
    age = max_age or cfg.session_max_age
    if not isinstance(age, int) or age <= 0:
        raise UsageError(f"--session-max-age must be a positive number of seconds, got {age}")
    return ensure_recent_session(
        root,
        agent,
        now=now,
        max_age=age,
        allow_stale=allow_stale,
        context=context,
        override=override,
    )
