"""plan new|check|step, receipt add, branch, pr."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from repobus.cli.runner import Ctx
from repobus.records import names


def plan_new(ctx: Ctx) -> int:
    from repobus.playbook import plans

    bus = ctx.bus()
    root = bus.repo.root
    path, doc = plans.new_plan(
        root,
        task=ctx.task,
        title=ctx.title,
        actor=ctx.agent(),
        now=bus.clock(),
        plan=ctx.values.get("id"),
        steps=list(ctx.step or []),
        justification=ctx.justification,
    )
    rel = str(path.relative_to(root))
    ctx.emit(
        {**doc, "_path": rel},
        f"Wrote {rel} (task {doc['task_id']}, {len(doc['steps'])} step(s); links "
        f"_bus/claims/{doc['task_id']}.json)\nUse it: --plan {rel}",
    )
    return 0


def plan_check(ctx: Ctx) -> int:
    from repobus.playbook import plans

    bus = ctx.bus()
    count, problems = plans.check(bus.repo.root, bus, [ctx.plan] if ctx.plan else None)
    if ctx.json:
        ctx.emit({"ok": not problems, "plans": count, "errors": problems})
    elif problems:
        ctx.out.write("".join(f"error: {p}\n" for p in problems))
    else:
        ctx.out.write(f"plans ok ({count} checked)\n")
    return 1 if problems else 0


def plan_step(ctx: Ctx) -> int:
    from repobus.playbook import plans

    bus = ctx.bus()
    doc = plans.set_step(
        bus.repo.root, ctx.plan, ctx.step, status=ctx.status, receipts=list(ctx.receipt or [])
    )
    ctx.emit(doc, f"Plan {doc['plan_id']}: step {ctx.step} → {ctx.status}")
    return 0


def receipt_add(ctx: Ctx) -> int:
    from repobus.playbook import receipts

    bus = ctx.bus()
    rec = receipts.add(
        bus.repo.root,
        Path(ctx.path).resolve(),
        kind=ctx.kind,
        agent=ctx.agent(),
        now=bus.clock(),
        task=ctx.task,
        name=ctx.values.get("name"),
    )
    ctx.emit(
        rec, f"Stored receipt {rec['path']} ({rec['sha256']})\nCite it: --receipt {rec['path']}"
    )
    return 0


def branch(ctx: Ctx) -> int:
    from repobus.git import gitcmd
    from repobus.playbook import branches

    repo = gitcmd.discover(ctx.values.get("repo"))
    agent = ctx.agent()
    slug = names.slug(ctx.slug)
    where = None
    if ctx.worktree or ctx.values.get("path"):
        where = (
            Path(ctx.path).resolve()
            if ctx.values.get("path")
            else repo.root.parent / f"{repo.root.name}-{slug}"
        )
    res = branches.create(repo, agent, slug, worktree=where, base=ctx.base)
    verb = "Created" if res["created"] else "Switched to"
    text = f"{verb} {res['branch']}" + (f" in worktree {res['worktree']}" if where else "")
    ctx.emit(res, text)
    return 0


def _labels(ctx: Ctx) -> list[str]:
    from repobus.errors import UsageError

    out = []
    for label in ctx.label or []:
        if not label.strip() or len(label) > 50 or any(c in label for c in "\n\r,"):
            raise UsageError(
                f"bad --label {label[:40]!r}: one label per --label, 1-50 "
                "characters, no commas (e.g. codex::tests)"
            )
        out.append(label.strip())
    return out


def pr(ctx: Ctx) -> int:
    from repobus.errors import NotFoundError, SetupError
    from repobus.playbook import branches
    from repobus.playbook import pr as prm
    from repobus.store.files import write_atomic

    bus = ctx.bus()
    agent = ctx.agent()
    labels = _labels(ctx)
    head = branches.current(bus.repo)
    if head is None:
        raise SetupError(
            "HEAD is detached: switch to your agent branch first", hint="repobus branch SLUG"
        )
    task = names.task_id(ctx.task) if ctx.task else prm.infer_task(bus, agent, head)
    if task is None:
        raise NotFoundError(f"no claim of {agent} names branch {head}; pass --task TASK")
    title, body = prm.compose(
        bus, bus.repo.root, agent=agent, task=task, branch=head, justification=ctx.justification
    )
    title = ctx.title or title
    if ctx.dry_run:
        ctx.emit(
            {"title": title, "body": body, "task_id": task, "branch": head}, f"{title}\n\n{body}"
        )
        return 0
    bus.claim_guard(agent, task, "pr_opened", None)
    path = prm.body_path(bus.repo.root, agent, task)
    write_atomic(path, body)
    rel = str(path.relative_to(bus.repo.root))
    gh = shutil.which("gh", path=ctx.env.get("PATH"))
    if gh is None:
        return _no_gh(ctx, task, head, title, rel)
    url = _run_gh(ctx, gh, title, rel, head, labels)
    number = prm.pr_number(url)
    rec = bus.log(
        agent,
        "pr_opened",
        f"Draft PR opened: {title}",
        task=task,
        branch=head,
        pr=number or url or None,
        receipts=[rel],
        extra={"url": url} if url else None,
    ).record
    ctx.emit(
        {**rec, "body_file": rel, "opened": True},
        f"Opened draft PR {url or ''} for {task} (body {rel}); logged pr_opened",
    )
    return 0


def _run_gh(ctx: Ctx, gh: str, title: str, body_file: str, head: str, labels: list[str]) -> str:
    from repobus.errors import RemoteError

    argv = [
        gh,
        "pr",
        "create",
        "--draft",
        "--title",
        title,
        "--body-file",
        body_file,
        "--head",
        head,
    ]
    if ctx.base:
        argv += ["--base", ctx.base]
    for label in labels:
        argv += ["--label", label]
    try:
        proc = subprocess.run(
            argv,
            cwd=ctx.bus().repo.root,
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(ctx.env),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RemoteError(f"gh pr create did not run: {exc}") from None
    if proc.returncode != 0:
        first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), "no message")
        raise RemoteError(
            f"gh pr create failed (exit {proc.returncode}): {first.strip()}",
            hint=f"the body is in {body_file}; fix the cause and rerun repobus pr",
        )
    return next((ln.strip() for ln in reversed(proc.stdout.splitlines()) if ln.strip()), "")


def _no_gh(ctx: Ctx, task: str, head: str, title: str, body_file: str) -> int:
    steps = [
        f"gh (the GitHub CLI) is not on PATH: the draft PR body is in {body_file}.",
        "Open the draft PR yourself:",
        f"  git push -u origin {head}",
        f"  open a draft pull request from {head} titled {title!r} with that body",
        f"  then record it: repobus log --event pr_opened --task {task} --pr <number> "
        f'--summary "Draft PR opened"',
    ]
    ctx.emit(
        {
            "task_id": task,
            "branch": head,
            "title": title,
            "body_file": body_file,
            "opened": False,
            "instructions": steps[1:],
        },
        "\n".join(steps),
    )
    return 0
