"""Part 1 - races: 32 processes in 4 clones of one remote (served by `git daemon` on
127.0.0.1), each clone checked out in 4 worktrees (2 processes per worktree), claim one task
at once, round after round: never two winners; every loser names the winner; every fourth
round the winner pauses and all 32 race to take the task over (one winner again, the token
raised unless the pauser itself resumed); the winner logs a guarded event.  After the rounds
every clone syncs, and all clones and the remote agree on every bus ref; `verify` and
`git fsck` are clean everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rel_lab import (
    Outcome,
    Workers,
    add_worktrees,
    bus_refs,
    clone,
    fsck,
    new_bare,
    serve,
    verify_problems,
)

CLONES, TREES, PER_TREE = 4, 4, 2


def _race(
    out: Outcome, workers: Workers, agents: list[str], task: str, prev: str | None
) -> str | None:
    answers: list[dict[str, Any]] = workers.all([{"op": "claim", "task": task}] * len(agents))
    won = [agents[i] for i, a in enumerate(answers) if a["r"] == "ok"]
    kinds = sorted({a["r"] for a in answers if a["r"] not in ("ok", "conflict")})
    for k in kinds:
        n = sum(a["r"] == k for a in answers)
        if k == "remote":  # the server refused a connection under load: failed closed (exit 6)
            out.count("loser answers: remote (exit 6)", n)
        else:
            out.fail(
                f"{task}: {n} loser(s) told {k!r}, not conflict: "
                + next(a.get("msg", "") for a in answers if a["r"] == k)[:200]
            )
    if len(won) != 1:
        out.fail(f"{task}: {len(won)} winners {won} (other answers: {kinds})")
        return won[0] if won else None
    winner = won[0]
    ans = answers[agents.index(winner)]
    want = 1 if prev is None or prev == winner else 2
    if ans["token"] != want:
        out.fail(f"{task}: winner {winner} got token {ans['token']}, expected {want}")
    wrong = [a.get("holder") for a in answers if a["r"] == "conflict" and a.get("holder") != winner]
    if wrong:
        out.fail(f"{task}: losers named {wrong[:3]} instead of {winner}")
    return winner


def _agree(out: Outcome, clones: list[Path], bare: Path, winners: dict[str, str]) -> None:
    from repobus.bus import open_bus
    from repobus.git import gitcmd

    for _ in range(2):  # the second pass brings every clone what the others pushed
        for c in clones:
            gitcmd._ENV = None
            open_bus(c).store.sync()  # type: ignore[attr-defined]
    remote = bus_refs(bare)
    for c in clones:
        mine = bus_refs(c)
        if mine != remote:
            diff = sorted(set(mine.items()) ^ set(remote.items()))[:3]
            out.fail(f"{c.name} disagrees with the remote after sync: {diff}")
        held = {s.key: s.record["agent_id"] for s in open_bus(c).store.list("claims")}
        if held != winners:
            out.fail(f"{c.name}: holders {len(held)} differ from the race winners")
        for p in verify_problems(c):
            out.fail(f"{c.name}: verify: {p}")
        if (err := fsck(c)) is not None:
            out.fail(f"{c.name}: git fsck: {err}")
    if (err := fsck(bare)) is not None:
        out.fail(f"remote: git fsck: {err}")


def run(workdir: Path, rounds: int) -> Outcome:
    out = Outcome(
        "races",
        f"{CLONES * TREES * PER_TREE} procs, {CLONES} clones x {TREES} "
        "worktrees, git daemon: one winner, losers name it, clones agree",
    )
    bare = new_bare(workdir / "served" / "bus.git")
    with serve(bare) as url:
        clones = [clone(url, workdir / f"clone{i}") for i in range(CLONES)]
        trees = [t for c in clones for t in (c, *add_worktrees(c, TREES - 1))]
        places = [(t, f"r{n}-{k}") for n, t in enumerate(trees) for k in range(PER_TREE)]
        agents = [a for _, a in places]
        winners: dict[str, str] = {}
        with Workers(places, timeout=300) as workers:
            for r in range(rounds):
                task = f"R-{r:04d}"
                winner = _race(out, workers, agents, task, None)
                out.trials += 1
                if winner is None:
                    continue
                if r % 4 == 3:  # pause, then all race to take it over
                    i = agents.index(winner)
                    if workers.ask(i, {"op": "pause", "task": task})["r"] != "ok":
                        out.fail(f"{task}: the holder could not pause")
                    winner = _race(out, workers, agents, task, winner) or winner
                    out.count("takeover races")
                i = agents.index(winner)
                res = workers.ask(
                    i,
                    {
                        "op": "log",
                        "event": "status",
                        "task": task,
                        "summary": f"won {task}",
                        "fence": "mine",
                    },
                )
                if res["r"] == "remote":  # failed closed under load
                    out.count("winner's log: remote (exit 6)")
                elif res["r"] != "ok":
                    out.fail(f"{task}: the winner {winner} could not log: {res}")
                winners[task] = winner
        _agree(out, clones, bare, winners)
    return out


def test_takeover_race_losers_in_one_clone_are_told_conflict(tmp_path: Path) -> None:
    bare = new_bare(tmp_path / "served" / "bus.git")
    with serve(bare) as url:
        a, b = clone(url, tmp_path / "a"), clone(url, tmp_path / "b")
        trees = [b, *add_worktrees(b, 3)]
        places = [(a, "holder"), *((trees[i % 4], f"t{i}") for i in range(16))]
        seen: set[str] = set()
        with Workers(places) as workers:
            for r in range(12):  # bounded; stops at the first wrong answer
                if seen:
                    break
                task = f"TK-{r}"
                assert workers.ask(0, {"op": "claim", "task": task})["r"] == "ok"
                assert workers.ask(0, {"op": "pause", "task": task})["r"] == "ok"
                # clone b still shows the claim active: every racer there fetches at once
                again = workers.all(
                    [{"op": "renew", "task": task}, *[{"op": "claim", "task": task}] * 16]
                )
                assert sum(x["r"] == "ok" for x in again[1:]) == 1, again
                seen |= {
                    f"{x['r']}: {x.get('msg', '')[:120]}"
                    for x in again[1:]
                    if x["r"] not in ("ok", "conflict")
                }
    assert not seen, sorted(seen)


def test_thirty_two_racers_four_clones_four_worktrees(tmp_path: Path) -> None:
    out = run(tmp_path, rounds=12)
    assert out.failures == 0, "\n".join(out.details)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # a long variant: past the suite's 300 s default
def test_thirty_two_racers_long(tmp_path: Path) -> None:
    out = run(tmp_path, rounds=300)
    assert out.failures == 0, "\n".join(out.details)
