"""Task ids, agent ids and slugs, made safe before they become paths or ref names.

Invariant: every id accepted here is a single path component and a valid git ref-name
component, so `_bus/claims/<task>.json` and `refs/repobus/claims/<task>` can never escape
their directory or be refused by git.
"""

from __future__ import annotations

import re

from repobus.errors import UsageError

MAX_ID = 128
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def _check(kind: str, value: str, option: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{kind} id is empty", hint=f"pass a non-empty {option}")
    value = value.strip()
    shown = value if len(value) <= 40 else value[:37] + "..."
    why = None
    if len(value) > MAX_ID:
        why = f"longer than {MAX_ID} characters"
    elif ".." in value:
        why = "contains '..'"
    elif value.endswith(".lock"):
        why = "ends with '.lock'"
    elif value.endswith("."):
        why = "ends with '.'"
    elif not _ID.match(value):
        why = "must start with a letter or digit and use only letters, digits, '.', '_' and '-'"
    if why:
        raise UsageError(
            f"unsafe {kind} id {shown!r}: {why}",
            hint=f"{option} takes ids like QUEUE-001 or codex-2",
        )
    return value


def task_id(value: str) -> str:
    return _check("task", value, "--task")


def agent_id(value: str) -> str:
    return _check("agent", value, "--agent")


def default_branch(agent: str, task: str) -> str:
    """The original tools' default: `agent/<id>/<task lower-cased, spaces as dashes>`."""
    return f"agent/{agent}/{task.lower().replace(' ', '-')}"


def slug(value: str) -> str:
    return _check("slug", value.lower(), "SLUG")


def plan_id(value: str | None) -> str | None:
    """A plan id, from an id or a path `_plans/<id>.plan.json` as the playbook writes it."""
    if value is None or not value.strip():
        return None
    v = value.strip()
    if v.endswith(".plan.json"):
        v = v.rsplit("/", 1)[-1][: -len(".plan.json")]
    return _check("plan", v, "--plan")
