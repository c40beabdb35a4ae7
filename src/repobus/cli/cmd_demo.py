"""`repobus demo`: a scripted run in a temporary repository.

Three agents in three worktrees race for one task (real processes, released together), log
events, one crashes, another pauses its claim and takes it over (the fencing token goes up and
the crashed agent is locked out), the work is released, and the run ends with the status
table and the `verify` result.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from repobus.cli.runner import Ctx

AGENTS = ("alpha", "beta", "gamma")


def _git(cwd: Path, *args: str) -> None:
    from repobus.git import gitcmd

    gitcmd.run(cwd, *args)


def _repobus(cwd: Path, agent: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, REPOBUS_AGENT=agent)
    return subprocess.Popen(
        [sys.executable, "-m", "repobus", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def shown(agent: str, *args: str) -> str:
    """The command as a shell runs it: every word shell-quoted, so a summary holding `;` or
    spaces pastes as the one argument the demo passed."""
    from repobus.git.gitcmd import quote_args

    return quote_args((f"REPOBUS_AGENT={agent}", "repobus", *args))


def _step(ctx: Ctx, cwd: Path, agent: str, *args: str) -> int:
    proc = _repobus(cwd, agent, *args)
    out, err = proc.communicate(timeout=60)
    ctx.out.write(f"$ {shown(agent, *args)}\n")
    for line in (out + err).strip().splitlines():
        ctx.out.write(f"    {line}\n")
    ctx.out.write(f"    (exit {proc.returncode})\n")
    return proc.returncode


def run(ctx: Ctx) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="repobus-demo-"))
    try:
        return _demo(ctx, tmp)
    finally:
        if ctx.values.get("keep"):
            ctx.out.write(f"\nkept the demo repository at {tmp}\n")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _demo(ctx: Ctx, tmp: Path) -> int:
    main, trees = _setup(ctx, tmp)
    ctx.out.write("\n# 1. All three agents claim QUEUE-001 at the same instant\n")
    winner = _race(ctx, trees)
    if winner is None:
        return 1
    losers = [a for a in AGENTS if a != winner]
    ctx.out.write(f"\n# 2. {winner} works and logs; the others take other tasks\n")
    _log(ctx, trees[winner], winner, "status", "tests written, implementation half done")
    for n, agent in enumerate(losers, start=2):
        _step(ctx, trees[agent], agent, "claim", "--task", f"QUEUE-00{n}")
    _takeover(ctx, trees, winner, losers[0])
    _finish(ctx, trees, losers[0], losers[1])
    ctx.out.write("\n# 6. The status table, seen from any worktree, and the verify result\n")
    _step(ctx, main, "alpha", "status", "--limit", "10")
    rc = _step(ctx, main, "alpha", "verify")
    return 0 if rc == 0 else 1


def _setup(ctx: Ctx, tmp: Path) -> tuple[Path, dict[str, Path]]:
    """A repository with one worktree per agent, set up by alpha."""
    main = tmp / "main"
    _git(tmp, "init", "-q", "-b", "main", str(main))
    _git(
        main,
        "-c",
        "user.name=demo",
        "-c",
        "user.email=demo@example.invalid",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "initial",
    )
    trees = {}
    for agent in AGENTS:
        trees[agent] = tmp / f"wt-{agent}"
        _git(main, "worktree", "add", "-q", "-b", f"agent/{agent}/work", str(trees[agent]))
    ctx.out.write(f"# A repository with three worktrees, one per agent: {tmp}\n")
    _step(ctx, main, "alpha", "init")
    return main, trees


def _race(ctx: Ctx, trees: dict[str, Path]) -> str | None:
    """Every agent claims QUEUE-001 at once; the one winner, or None (said) if not one."""
    for agent in AGENTS:  # what each worktree runs, all at the same instant
        ctx.out.write(f"$ {shown(agent, 'claim', '--task', 'QUEUE-001')}\n")
    procs = {a: _repobus(trees[a], a, "claim", "--task", "QUEUE-001") for a in AGENTS}
    results = {a: (p.wait(timeout=60), p.communicate()) for a, p in procs.items()}
    winners = [a for a, (rc, _) in results.items() if rc == 0]
    if len(winners) != 1:
        ctx.out.write(f"    expected exactly one winner, got {winners}\n")
        return None
    for agent, (rc, (out, err)) in results.items():
        verdict = "won" if rc == 0 else f"lost (exit {rc}): {(err or out).strip().splitlines()[0]}"
        ctx.out.write(f"    {agent}: {verdict}\n")
    return winners[0]


def _log(ctx: Ctx, cwd: Path, agent: str, event: str, summary: str) -> None:
    _step(ctx, cwd, agent, "log", "--event", event, "--task", "QUEUE-001", "--summary", summary)


def _takeover(ctx: Ctx, trees: dict[str, Path], winner: str, rescuer: str) -> None:
    """The winner crashes; the rescuer pauses and takes over; the winner is locked out."""
    ctx.out.write(
        f"\n# 3. {winner} crashes. {rescuer} pauses its claim with notes and takes it over\n"
    )
    notes = f"{winner} stopped responding; tests are in place"
    # the winner renewed seconds ago: only a forced pause, with its reason, overrules it
    why = ("--force", "--reason", f"{winner} crashed; the demo does not wait out the silence")
    _step(ctx, trees[rescuer], rescuer, "pause", "--task", "QUEUE-001", "--notes", notes, *why)
    _step(ctx, trees[rescuer], rescuer, "claim", "--task", "QUEUE-001")
    ctx.out.write(f"\n# 4. {winner} comes back with its old fencing token: locked out\n")
    _log(ctx, trees[winner], winner, "status", "still working")
    _step(ctx, trees[winner], winner, "renew", "--task", "QUEUE-001", "--fence", "1")


def _finish(ctx: Ctx, trees: dict[str, Path], rescuer: str, other: str) -> None:
    ctx.out.write("\n# 5. Work is finished and released\n")
    _log(ctx, trees[rescuer], rescuer, "complete", "merged")
    _step(ctx, trees[rescuer], rescuer, "release", "--task", "QUEUE-001", "--status", "done")
    _step(
        ctx,
        trees[other],
        other,
        "release",
        "--task",
        "QUEUE-003",
        "--status",
        "released",
        "--notes",
        "blocked on QUEUE-001 review",
    )
