"""`check`, extended: memory/log.jsonl references and `--pr BASE..HEAD` (CI for PRs).

The base check runs unchanged; its findings are merged with these (text or JSON)."""

from __future__ import annotations

import io
import json

from repobus.cli.runner import Ctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _base(ctx: Ctx, out: Any) -> int:
    """The bus check (formats, duplicates, hash chains), writing to `out`."""
    from repobus.cli import cmd_admin

    sub = Ctx(ctx.values, ctx.env, out, ctx.err)
    sub._bus = ctx._bus
    return cmd_admin.check(sub)


def check(ctx: Ctx) -> int:
    from repobus.checks import prcheck
    from repobus.playbook import memory

    bus = ctx.bus()
    extra = [] if ctx.values.get("dir") else memory.problems(bus)
    verdict = None
    if ctx.values.get("pr"):
        branch = ctx.values.get("branch") or ctx.env.get("GITHUB_HEAD_REF") or None
        verdict = prcheck.check_pr(bus, ctx.pr, branch)
        extra += verdict.problems
    if not extra and verdict is None:
        return _base(ctx, ctx.out)
    buf = io.StringIO()
    code = _base(ctx, buf)
    gha = ctx.env.get("GITHUB_ACTIONS") == "true"
    if ctx.json:
        data = json.loads(buf.getvalue() or "{}")
        data["errors"] = list(data.get("errors") or []) + extra
        data["ok"] = not data["errors"]
        if verdict is not None:
            data["pr"] = {
                "branch": verdict.branch,
                "agent": verdict.agent,
                "task_id": verdict.task,
                "problems": verdict.problems,
                "notes": verdict.notes,
            }
        ctx.emit(data)
    else:
        ctx.out.write(buf.getvalue())
        ctx.out.write("".join(f"{'::error::' if gha else 'error: '}{e}\n" for e in extra))
        if verdict is not None and not verdict.problems:
            ctx.out.write(f"pr check: branch {verdict.branch}: " + "; ".join(verdict.notes) + "\n")
    return 1 if extra or code else 0
