"""Setting a clone up: `init` (with `--shims` / `--hooks`, the playbook's set-up) and
`hook pre-push`.

`init` reads `.repobus.toml` for its defaults and writes it when it is missing or when an
explicit flag changes what it says; it never rewrites it otherwise.
"""

from __future__ import annotations

import sys

from repobus.cli.runner import Ctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo
    from repobus.store.project import Project


# -- init -------------------------------------------------------------------------------------
def init(ctx: Ctx) -> int:
    from repobus.git import config, gitcmd
    from repobus.store import project

    repo = gitcmd.discover(ctx.values.get("repo"))
    cfg = config.load(repo)
    declared = project.read(repo.root)
    backend, remote = _wanted(ctx, repo, cfg, declared)
    carried = _refuse_switch(ctx, repo, cfg, backend)
    with project.setup_lock(repo):
        done = carried + project.set_up(repo, backend, remote, _extra(ctx))
    if backend == "git" and not carried:
        done += _adopt(ctx, repo)
    if project.Project(backend, remote) != declared:
        project.write(repo.root, project.Project(backend, remote))
        done.append(f"wrote {project.FILE} (commit it: {project.COMMIT})")
    agent = _manifest(ctx, repo, done)
    if backend == "dir":
        done += _bus_folders(repo)
    if ctx.values.get("shims") or ctx.values.get("hooks"):
        done += playbook_setup(ctx, repo)
    if ctx.values.get("agents_md"):
        from repobus.playbook import agentsmd

        done += agentsmd.write(repo.root, str(ctx.values["agents_md"]))
    text = "\n".join(done) if done else "repobus already set up; nothing changed"
    ctx.emit(
        {
            "changed": done,
            "backend": backend,
            "remote": remote,
            "agent": agent,
            "root": str(repo.root),
        },
        text + _agent_hint(agent),
    )
    return 0


def _wanted(ctx: Ctx, repo: Repo, cfg: Config, declared: Project | None) -> tuple[str, str | None]:
    """(backend, remote) init sets up: the flags given, else what `.repobus.toml` says,
    else what this clone has, else git with `origin` when the clone has one."""
    from repobus.store import project

    backend = ctx.backend or (declared.backend if declared else cfg.raw.get("backend")) or "git"
    if backend != "git" or ctx.values.get("no_remote"):
        return backend, None
    if ctx.values.get("remote"):
        if not project.valid_remote_name(ctx.remote):
            from repobus.errors import UsageError

            raise UsageError(f"--remote {ctx.remote!r} is not a git remote name")
        return backend, str(ctx.remote)
    if declared is not None and declared.backend == backend:
        return backend, declared.remote
    from repobus.store import tracking as rmt

    return backend, cfg.remote or rmt.default_remote(repo)


def _refuse_switch(ctx: Ctx, repo: Repo, cfg: Config, backend: str) -> list[str]:
    """A clone whose bus holds records keeps its backend: switching would leave every record
    behind in the old one (the new one starts empty, and with the git backend's `_bus/`
    mirror under it a dir backend would read a mirror as its own files).  No records: the
    switch is free.  With `--migrate` every record is carried over and verified; what was
    carried is returned."""
    if not cfg.initialized or cfg.backend == backend:
        return []
    from repobus.bus import open_bus
    from repobus.errors import SetupError
    from repobus.records import layout

    store = open_bus(repo.root, cfg.backend, writes=None).store
    held = {k: len(store.list(k)) for k in layout.SLOT_KINDS}
    held |= {k: len(store.tail(k)) for k in layout.LOG_KINDS}
    if not any(held.values()):
        return []
    if ctx.values.get("migrate"):
        return _migrate(ctx, repo, cfg, backend)
    lost = ", ".join(f"{n} {kind}" for kind, n in held.items() if n)
    raise SetupError(
        f"this clone's bus uses the {cfg.backend} backend and holds {lost}: switching to "
        f"--backend {backend} would lose them (the {backend} backend starts empty); "
        "nothing was changed",
        hint=f"carry them over: repobus init --backend {backend} --migrate; or keep the "
        f"{cfg.backend} backend: repobus init",
    )


def _migrate(ctx: Ctx, repo: Repo, cfg: Config, backend: str) -> list[str]:
    """`init --backend X --migrate`: dir -> git imports `_bus/` (store/legacy.run); git -> dir
    writes every record into `_bus/` as the dir backend keeps it (store/legacy.replay).  The
    new backend is verified before the switch; on a problem nothing is switched."""
    from repobus.errors import CorruptError
    from repobus.store import legacy, open_store

    old = open_store(repo, cfg)
    new = open_store(repo, cfg, backend)
    if backend == "git":
        from repobus.bus import open_bus
        from repobus.cli.cmd_admin import carry_in

        bus = open_bus(repo.root, cfg.backend, writes=None)
        bus.store = new
        _, text = carry_in(ctx, bus, repo.root / "_bus")
        done = [f"carried the dir backend's records into the git backend: {text}"]
    else:
        _clear_mirror(repo)
        counts = legacy.replay(old, new)
        got = ", ".join(f"{n} {k}" for k, n in counts.items())
        done = [f"carried the git backend's records into _bus/ (dir backend): {got}"]
    problems = list(new.verify())
    if problems:
        p = problems[0]
        raise CorruptError(
            f"the {backend} backend does not verify after the migration: {p.chain}: "
            f"{p.where}: {p.what}; the backend was not switched"
        )
    if backend == "git":
        done += _set_aside(repo)
    return [*done, f"verified the {backend} backend: every hash chain is intact"]


def _set_aside(repo: Repo) -> list[str]:
    """After dir -> git, an untracked `_bus/` gives way to the git backend's mirror: it is
    moved into the git dir, kept; a tracked one stays (its imported lines are anchored)."""
    import time

    from repobus.records import layout
    from repobus.store import legacy

    src = repo.root / layout.BUS_DIR
    if legacy.tracked(repo) or not src.is_dir():
        return []
    dest = repo.git_dir / f"repobus-migrated-{time.strftime('%Y%m%dT%H%M%S')}"
    src.rename(dest)
    return [f"moved the dir backend's _bus/ to {dest} (the git backend mirrors _bus/ now)"]


def _clear_mirror(repo: Repo) -> None:
    """The git backend's read-only `_bus/` mirror makes way for the dir backend's own files;
    a tracked `_bus/` (files the team committed) is never removed: it is refused."""
    import shutil

    from repobus.errors import SetupError
    from repobus.records import layout
    from repobus.store import legacy

    if legacy.tracked(repo):
        raise SetupError(
            "_bus/ is tracked by git: the dir backend would write into the team's committed "
            "files; nothing was changed",
            hint="move the tracked _bus/ away first (git rm -r --cached _bus)",
        )
    shutil.rmtree(repo.root / layout.BUS_DIR, ignore_errors=True)
    for name in ("repobus-mirror.json", "repobus-mirror.sig"):
        (repo.git_dir / name).unlink(missing_ok=True)


def _adopt(ctx: Ctx, repo: Repo) -> list[str]:
    """A git bus with nothing in it beside a tracked `_bus/` that holds records imports that
    history (never an empty bus beside the team's tracked one)."""
    from repobus.bus import open_bus
    from repobus.records import layout
    from repobus.store import legacy

    base = repo.root / layout.BUS_DIR
    if not legacy.tracked(repo) or not legacy.holds_records(base):
        return []
    bus = open_bus(repo.root, writes=None)
    if any(bus.store.heads(k) for k in (*layout.SLOT_KINDS, *layout.LOG_KINDS)):
        return []
    from repobus.cli.cmd_admin import carry_in

    _, text = carry_in(ctx, bus, base)
    return [text]


def _agent_hint(agent: str | None) -> str:
    from repobus.playbook import session

    if agent:
        return ""
    return (
        f"\nhint: no agent id yet: run `repobus init --agent ID` to write "
        f"{session.MANIFEST}, or set REPOBUS_AGENT"
    )


def _extra(ctx: Ctx) -> dict[str, str]:
    ttl = ctx.ttl_seconds()
    return {} if ttl is None else {"ttl": f"{ttl}s"}


def _manifest(ctx: Ctx, repo: Repo, done: list[str]) -> str | None:
    from repobus.playbook import session
    from repobus.records import names

    explicit = ctx.values.get("agent") or ctx.env.get("REPOBUS_AGENT")
    agent = names.agent_id(explicit) if explicit else session.manifest_agent(repo.root)
    if agent and session.write_manifest(repo.root, agent):
        done.append(f"wrote {session.MANIFEST} for {agent}")
    return agent


def _bus_folders(repo: Repo) -> list[str]:
    done = []
    for sub in ("claims", "assignments", "events", "messages"):
        folder = repo.root / "_bus" / sub
        if not folder.is_dir():
            folder.mkdir(parents=True)
            done.append(f"created _bus/{sub}/")
    return done


def playbook_setup(ctx: Ctx, repo: Any) -> list[str]:
    from repobus.git import config, policy
    from repobus.playbook import hooks, shims

    done: list[str] = []
    if ctx.values.get("shims"):
        for w in shims.write_shims(repo.root):
            if w.action == "written":
                done.append(f"wrote {w.path}")
            elif w.action == "kept":
                done.append(f"kept {w.path} (not written by repobus; not overwritten)")
        cfg = config.load(repo)
        for key, value in policy.PLAYBOOK.items():
            if key.lower() not in cfg.raw:
                config.set_value(repo, key, value)
                done.append(f"set repobus.{key}={value} (playbook policy)")
    if ctx.values.get("hooks"):
        path, action = hooks.install_pre_push(repo, sys.executable)
        if action == "written":
            done.append(
                f"installed the pre-push hook: {path} (engineers push only agent/<id>/*; a "
                "manager, by its manifest role, also the integration branch, "
                "repobus.integrationBranch, default main; repobus.pushAllow opens other "
                "branches to everyone)"
            )
    return done


def pre_push(ctx: Ctx) -> int:
    """git runs this with the remote name and URL, and the refs being pushed on stdin."""
    from repobus.errors import CheckFailed
    from repobus.git import policy
    from repobus.playbook import hooks

    lines = [] if sys.stdin.isatty() else sys.stdin.read().splitlines()
    branches = hooks.pushed_branches(lines)
    remote_branch = ctx.env.get("PRE_COMMIT_REMOTE_BRANCH")  # run by the pre-commit framework
    if not lines and remote_branch and remote_branch.startswith("refs/heads/"):
        branches = [remote_branch[len("refs/heads/") :]]
    if not branches:
        return 0
    bus = ctx.bus()
    agent = ctx.agent()
    verdict = hooks.check_push(bus, agent, branches, policy.push_allow(bus.cfg))
    for text in verdict.warnings:
        ctx.err.write(text + "\n")
    if verdict.refused:
        raise CheckFailed(
            f"push refused: {', '.join(verdict.refused)} outside agent/{agent}/ (agents push "
            f"only their own agent/<id>/ branches; a manager, by its manifest role, also "
            f"the integration branch)",
            hint="push to agent/<id>/<slug> (repobus branch SLUG); the manager pushes the "
            "integration branch (repobus.integrationBranch, default main); other branches for "
            "everyone: git config repobus.pushAllow 'release/*'",
        )
    return 0
