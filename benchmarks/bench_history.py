"""Section `history` (issue 14): cost follows live work, not history.

Three bare remotes under one `git daemon` on loopback, each with one clone set up by
`repobus init --remote origin`:
- `empty`: no finished claims;
- `archived`: 10,000 finished claims, moved into `refs/repobus/archive` by `repobus archive`;
- `refs`: the same 10,000 finished claims kept as refs (the layout before the archive).

Measured, interleaved across the three (the order rotates each round):
- remote claim: `bus.claim()` of a fresh task in the clone; target archived <= 1.25x empty;
- event log: `bus.log()` of a status event; target archived <= 1.25x empty;
- first sync of a fresh clone of a bus with 10,000 tasks and 100,000 events (`--quick`:
  20,000), archived vs as refs: `repobus init --remote origin` (it fetches the bus) then
  `repobus sync`; target <= 3 s for the archived bus.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import git, median
from benchmarks.bench import Ctx, Row, _latency_row, _run
from benchmarks.bench_remote import Daemon, _bare, _clone


@dataclass(frozen=True)
class HistorySizes:
    finished: int
    rounds: int
    warmup: int
    sync_events: int
    sync_tasks: int


FULL = HistorySizes(finished=10_000, rounds=40, warmup=3, sync_events=100_000, sync_tasks=10_000)
QUICK = HistorySizes(finished=10_000, rounds=10, warmup=2, sync_events=20_000, sync_tasks=10_000)


def _finished_claims(ctx: Ctx, bare: Path, n: int) -> None:
    """`n` finished claims (status done) pushed to `bare`, written with `git fast-import`."""
    from benchmarks.gen import _commit, _fmt
    from repobus.records import models

    stage = ctx.root / f"stage-{bare.name}"
    git(ctx.root, "init", "-q", str(stage), env=ctx.env)
    proc = subprocess.Popen(["git", "fast-import", "--quiet", "--date-format=raw"], cwd=stage,
                            env=ctx.env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stdin is not None
    epoch = int(time.time()) - 30 * 86400
    for i in range(n):
        task, agent = f"H-{i:05d}", f"agent-{i % 8}"
        rec = {"task_id": task, "agent_id": agent, "branch": f"agent/{agent}/h-{i:05d}",
               "status": "done", "claimed_at": _fmt(epoch), "lease_expires_at": _fmt(epoch),
               "fencing_token": 1, "op": "claim", "by": agent, "updated_at": _fmt(epoch),
               "seq": 1}
        _commit(proc.stdin, f"refs/repobus/claims/{task}", agent, epoch,
                models.canonical(rec) + b"\n")
    proc.stdin.close()
    if proc.wait(300) != 0:
        raise RuntimeError("git fast-import failed")
    git(stage, "push", "-q", str(bare), "refs/repobus/*:refs/repobus/*", env=ctx.env)


def _setup(ctx: Ctx, daemon: Daemon, base: Path, s: HistorySizes) -> dict[str, Path]:
    clones = {}
    for name in ("empty", "archived", "refs"):
        bare = _bare(ctx, base, f"{name}.git")
        if name != "empty":
            _finished_claims(ctx, bare, s.finished)
        clones[name] = _clone(ctx, daemon.url(f"{name}.git"), ctx.root / f"hist-{name}")
    _run([ctx.exe, "archive"], clones["archived"], ctx.env)
    served = git(base / "archived.git", "for-each-ref", "--format=%(refname)",
                 "refs/repobus/claims/", env=ctx.env).stdout.split()
    if served:
        raise RuntimeError(f"`repobus archive` left {len(served)} claim refs on the remote")
    return clones


def _interleaved(buses: dict[str, object], s: HistorySizes, op: str) -> dict[str, list[float]]:
    names = list(buses)
    out: dict[str, list[float]] = {n: [] for n in names}
    for i in range(-s.warmup, s.rounds):
        order = names[i % len(names):] + names[:i % len(names)]
        for name in order:
            bus = buses[name]
            t0 = time.perf_counter()
            if op == "claim":
                bus.claim("hist-agent", f"HC-{i + 100}")  # type: ignore[attr-defined]
            else:
                bus.log("hist-agent", "status", f"round {i}")  # type: ignore[attr-defined]
            if i >= 0:
                out[name].append(time.perf_counter() - t0)  # seconds, as _latency_row takes
    return out


def _first_sync(ctx: Ctx, daemon: Daemon, base: Path, s: HistorySizes) -> list[Row]:
    from benchmarks.gen import generate

    times: dict[str, tuple[float, float]] = {}  # name -> (init, sync) seconds
    for name in ("sync-refs", "sync-archived"):
        stage = ctx.root / f"gen-{name}"
        generate(stage, events=s.sync_events, tasks=s.sync_tasks, agents=8)
        bare = _bare(ctx, base, f"{name}.git")
        git(stage, "push", "-q", str(bare), "refs/repobus/*:refs/repobus/*", env=ctx.env)
        if name == "sync-archived":
            first = _clone(ctx, daemon.url(f"{name}.git"), ctx.root / f"{name}-first")
            _run([ctx.exe, "archive"], first, ctx.env)
        dest = ctx.root / f"{name}-fresh"
        git(ctx.root, "clone", "-q", daemon.url(f"{name}.git"), str(dest), env=ctx.env)
        t0 = time.perf_counter()
        _run([ctx.exe, "init", "--remote", "origin"], dest, ctx.env)
        t1 = time.perf_counter()
        _run([ctx.exe, "sync"], dest, ctx.env)
        times[name] = (t1 - t0, time.perf_counter() - t1)
    size = f"{s.sync_tasks:,} tasks, {s.sync_events:,} events"
    archived, refs = sum(times["sync-archived"]), sum(times["sync-refs"])
    (a_init, a_sync), (r_init, r_sync) = times["sync-archived"], times["sync-refs"]
    note = ("`repobus init --remote origin` + `repobus sync` (it fills the `_bus/` mirror): "
            f"archived {a_init:.2f} + {a_sync:.2f} s, as refs {r_init:.2f} + {r_sync:.2f} s")
    return [Row(key="first_sync", metric=f"first sync of a fresh clone ({size}, archived)",
                unit="s", value=archived, reference="the same bus with finished claims as refs",
                ref_value=refs, ratio=archived / refs, target="<= 3 s", passed=archived <= 3.0,
                n=1, note=note)]


def bench_history(ctx: Ctx) -> list[Row]:
    from repobus.bus import open_bus
    from repobus.git import gitcmd

    s = QUICK if ctx.quick else FULL
    base = ctx.root / "history-served"
    base.mkdir()
    daemon = Daemon(ctx, base)
    daemon.start()
    try:
        clones = _setup(ctx, daemon, base, s)
        gitcmd._ENV = None
        buses: dict[str, object] = {n: open_bus(p) for n, p in clones.items()}
        rows = []
        for op, _what in (("claim", "bus.claim() of a fresh task"), ("log", "bus.log()")):
            got = _interleaved(buses, s, op)
            as_refs = median(got["refs"])
            note = (f"same with the {s.finished:,} finished claims kept as refs: "
                    f"{as_refs * 1000:.1f} ms ({as_refs / median(got['empty']):.2f}x)")
            rows.append(_latency_row(
                f"history_{op}", f"remote {op} with {s.finished:,} finished claims archived "
                "(git daemon)", got["archived"], "the same on a remote with 0 finished claims",
                got["empty"], 1.25, note=note))
        rows += _first_sync(ctx, daemon, base, s)
        return rows
    finally:
        daemon.stop()
