"""Part 2 - linearizability: concurrent histories of claim, renew, pause and release from 8
processes (in two worktrees of one clone) are checked against the sequential lease model; and
the checker does catch a lock that checks, then writes without a compare-and-swap."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import linearizability as lin
import pytest
from rel_lab import (
    Outcome,
    Workers,
    add_worktrees,
    clone,
    new_bare,
    new_repo,
)

WEIGHTS = {"claim": 0.4, "renew": 0.2, "pause": 0.15, "release": 0.25}


def _script(
    rng: random.Random, tasks: list[str], n_ops: int, claims_first: bool
) -> list[dict[str, Any]]:
    ops = []
    for k in range(n_ops):
        name = (
            "claim"
            if claims_first and k == 0
            else rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        )
        req: dict[str, Any] = {"op": name, "task": rng.choice(tasks)}
        if name in ("renew", "release") and rng.random() < 0.5:
            req["fence"] = "mine"
        if name == "release":
            req["status"] = rng.choice(["done", "released"])
        ops.append(req)
    return ops


def record_history(
    workers: Workers, rng: random.Random, tasks: list[str], claims_first: bool = False
) -> list[lin.Op]:
    """Arm every worker with 3-4 operations, release them together, collect the history."""
    scripts = [_script(rng, tasks, rng.choice((3, 4)), claims_first) for _ in workers.procs]
    workers.all([{"op": "script", "ops": s} for s in scripts])
    answers = workers.all([{"op": "go"}] * len(workers.procs))
    return [lin.op_from(i, res) for i, a in enumerate(answers) for res in a["results"]]


def make_pool(
    workdir: Path, procs: int = 8, agents: int = 8, clones: bool = False
) -> tuple[Path, Workers]:
    """8 workers in two worktrees of one clone, or in two clones of one file:// remote;
    with agents=4 each agent works from both places."""
    if clones:
        bare = new_bare(workdir / "served" / "bus.git")
        trees = [clone(f"file://{bare}", workdir / f"c{i}") for i in range(2)]
    else:
        repo = new_repo(workdir / "lin")
        trees = [repo, *add_worktrees(repo, 1)]
    for tree in trees:  # the model lets anyone pause: every holder counts as gone at once
        subprocess.run(["git", "config", "repobus.pauseSilence", "0"], cwd=tree, check=True)
    places = [(trees[i % 2], f"lin-{i % agents}") for i in range(procs)]
    return trees[0], Workers(places)


def run(
    workdir: Path,
    histories: int,
    seed: int = 2,
    unsafe: bool = False,
    stop_at_first: bool = False,
    clones: bool = False,
) -> Outcome:
    """`histories` histories, every fourth over three tasks, every other one with two
    processes per agent (same agent in two worktrees).  With `unsafe`, the workers use the
    broken check-then-write store and a failure is a history the checker flagged."""
    what = (
        "check-then-write lock (broken on purpose): histories flagged"
        if unsafe
        else "claim/renew/pause/release x 8 procs x 3-4 ops vs the lease model (Wing-Gong)"
    )
    out = Outcome("linearizability" + (" (broken lock)" if unsafe else ""), what)
    if clones:
        out.part, out.checked = (
            "linearizability (clones)",
            what.replace("8 procs", "8 procs in 2 clones"),
        )
    rng = random.Random(seed)
    pools = [
        make_pool(workdir / "distinct", agents=8, clones=clones),
        make_pool(workdir / "shared", agents=4, clones=clones),
    ]
    try:
        for _, w in pools:
            if unsafe:
                w.all([{"op": "unsafe"}] * len(w.procs))
        for h in range(histories):
            _, workers = pools[h % 2]
            tasks = [f"L{h:04d}-{c}" for c in ("A", "B", "C")[: 3 if h % 4 == 3 else 1]]
            ops = record_history(workers, rng, tasks, claims_first=unsafe)
            out.trials += 1
            out.count("operations", len(ops))
            out.count("locked results", sum(op.result == "locked" for op in ops))
            out.count("unknown outcomes", sum(op.result == "unknown" for op in ops))
            for task, verdict in lin.check(ops).items():
                out.count("model steps", verdict.steps)
                if verdict.ok is None:
                    out.count("unknown (search budget)")
                elif not verdict.ok:
                    out.fail(f"history {h} task {task} is not linearizable:\n" + verdict.explain())
            if stop_at_first and out.failures:
                break
    finally:
        for _, w in pools:
            w.close()
    return out


# -- the checker on hand-made histories ----------------------------------------------------------
def _op(
    proc: int,
    call: int,
    ret: int,
    name: str,
    agent: str,
    result: str = "ok",
    token: int | None = None,
    fence: int | None = None,
) -> lin.Op:
    return lin.Op(proc, call, ret, name, agent, "T", fence, result, token)


def test_checker_accepts_a_concurrent_history_with_one_winner() -> None:
    ops = [
        _op(0, 0, 10, "claim", "a", "ok", 1),
        _op(1, 1, 9, "claim", "b", "conflict"),
        _op(2, 2, 12, "pause", "c", "ok", 1),
        _op(1, 11, 20, "claim", "b", "ok", 2),
        _op(0, 13, 14, "renew", "a", "conflict", fence=1),
    ]
    verdict = lin.check_one(ops)
    assert verdict.ok, verdict.explain()
    assert [o.name for o in verdict.order][:2] == ["claim", "claim"]


def test_checker_rejects_two_overlapping_winners() -> None:
    ops = [_op(0, 0, 10, "claim", "a", "ok", 1), _op(1, 1, 9, "claim", "b", "ok", 1)]
    assert lin.check_one(ops).ok is False


def test_checker_respects_real_time_order() -> None:
    # b's claim was invoked after a's pause had returned: it must see the pause.
    ok = [
        _op(0, 0, 1, "claim", "a", "ok", 1),
        _op(1, 2, 3, "pause", "c", "ok", 1),
        _op(2, 4, 5, "claim", "b", "ok", 2),
    ]
    assert lin.check_one(ok).ok
    # the same results are impossible if b's claim returned before the pause was invoked
    bad = [
        _op(0, 0, 1, "claim", "a", "ok", 1),
        _op(2, 2, 3, "claim", "b", "ok", 2),
        _op(1, 4, 5, "pause", "c", "ok", 1),
    ]
    verdict = lin.check_one(bad)
    assert verdict.ok is False
    assert "claim(b)" in verdict.explain()


def test_checker_checks_fencing_tokens() -> None:
    ops = [
        _op(0, 0, 1, "claim", "a", "ok", 1),
        _op(1, 2, 3, "pause", "a", "ok", 1),
        _op(2, 4, 5, "claim", "b", "ok", 2),
        _op(0, 6, 7, "release", "a", "ok", fence=1),
    ]
    assert lin.check_one(ops).ok is False
    fenced = [*ops[:3], _op(0, 6, 7, "release", "a", "conflict", fence=1)]
    assert lin.check_one(fenced).ok


def test_checker_splits_tasks() -> None:
    a = lin.Op(0, 0, 10, "claim", "a", "T1", None, "ok", 1)
    b = lin.Op(1, 1, 9, "claim", "b", "T2", None, "ok", 1)
    assert all(v.ok for v in lin.check([a, b]).values())


# -- real histories -----------------------------------------------------------------------------
def test_histories_are_linearizable(tmp_path: Path) -> None:
    out = run(tmp_path, histories=20)
    assert out.failures == 0, "\n\n".join(out.details)
    assert out.counters.get("unknown (search budget)", 0) == 0


def test_checker_catches_a_check_then_write_lock(tmp_path: Path) -> None:
    out = run(tmp_path, histories=60, unsafe=True, stop_at_first=True)
    assert out.failures >= 1, f"no history flagged in {out.trials} with a broken lock"


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a long variant: past the suite's 300 s default
def test_histories_are_linearizable_long(tmp_path: Path) -> None:
    out = run(tmp_path, histories=200, seed=20)
    assert out.failures == 0, "\n\n".join(out.details)


def test_checker_places_an_unknown_outcome_anywhere_or_nowhere() -> None:
    claim = lin.Op(0, 0, 5, "claim", "a", "T", None, "unknown")
    later = lin.Op(1, 10, 11, "claim", "b", "T", None, "conflict")
    assert lin.check_one([claim, later]).ok  # it took effect
    free = lin.Op(1, 10, 11, "claim", "b", "T", None, "ok", 1)
    assert lin.check_one([claim, free]).ok  # it did not


def test_histories_across_clones_are_linearizable(tmp_path: Path) -> None:
    out = run(tmp_path, histories=10, clones=True)
    assert out.failures == 0, "\n\n".join(out.details)


def test_renew_sees_a_resume_made_in_another_clone(tmp_path: Path) -> None:
    from rel_lab import cli

    bare = new_bare(tmp_path / "served" / "bus.git")
    a, b = (clone(f"file://{bare}", tmp_path / n) for n in ("a", "b"))
    assert cli("claim", "--task", "T-1", cwd=a, agent="x")[0] == 0
    assert cli("pause", "--task", "T-1", "--notes", "lunch", cwd=a, agent="x")[0] == 0
    assert cli("claim", "--task", "T-1", cwd=b, agent="x")[0] == 0  # resumed, from clone b
    code, _, err = cli("renew", "--task", "T-1", cwd=a, agent="x")
    assert code == 0, err


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a long variant: past the suite's 300 s default
def test_histories_across_clones_long(tmp_path: Path) -> None:
    out = run(tmp_path, histories=100, seed=21, clones=True)
    assert out.failures == 0, "\n\n".join(out.details)
