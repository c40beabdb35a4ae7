"""repobus benchmarks: each operation timed next to a bare git (or Python) reference in the
same run, reported as medians and p95 with the ratio to the reference and its target.

    python -m benchmarks.bench [--quick] [--out benchmarks/results/bench.json] [--only a,b]

Sections: claim, cli, version, append, status, race, and remote (issue 4: a git daemon on
loopback) and scale (issue 6: 1k to 1M events); see benchmarks/README.md.
Exit status: 0 every target met, 1 a target missed, 2 the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import EMPTY_TREE, ZERO, git, isolated_env, median, p95

HERE = Path(__file__).resolve().parent
SECTIONS = (
    "claim", "cli", "version", "append", "status", "race", "remote", "scale", "transports",
    "history", "reads", "dashboard",
)


@dataclass(frozen=True)
class Sizes:
    claim_n: int
    cli_n: int
    version_n: int
    append_n: int
    append_threads: int
    append_each: int
    append_reps: int
    status_sizes: tuple[int, ...]
    status_runs: dict[int, int]
    race_rounds: int
    warmup: int = 5


FULL = Sizes(claim_n=1000, cli_n=200, version_n=200, append_n=2000, append_threads=4,
             append_each=250, append_reps=3, status_sizes=(10_000, 100_000),
             status_runs={10_000: 21, 100_000: 9}, race_rounds=500)
QUICK = Sizes(claim_n=60, cli_n=20, version_n=20, append_n=200, append_threads=4,
              append_each=40, append_reps=2, status_sizes=(2_000, 10_000),
              status_runs={2_000: 5, 10_000: 5}, race_rounds=50, warmup=2)


@dataclass
class Row:
    key: str
    metric: str
    unit: str  # "ms", "ev/s", "rounds"
    value: float
    value_p95: float | None = None
    reference: str = ""
    ref_value: float | None = None
    ref_p95: float | None = None
    ratio: float | None = None
    target: str = ""
    target_max: float | None = None  # ratio <= target_max passes
    passed: bool | None = None  # None: informational
    n: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def judge(self) -> Row:
        if self.target_max is not None and self.ratio is not None:
            self.passed = self.ratio <= self.target_max
        return self


@dataclass
class Ctx:
    root: Path
    env: dict[str, str]
    sizes: Sizes
    quick: bool
    exe: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = print


# -- helpers ------------------------------------------------------------------------------

def _ms(xs: list[float]) -> list[float]:
    return [x * 1000 for x in xs]


def _run(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> bytes:
    res = subprocess.run(argv, cwd=cwd, env=env, capture_output=True)
    if res.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {res.returncode}: "
                           f"{res.stderr.decode(errors='replace').strip()[:500]}")
    return res.stdout


def _new_repo(ctx: Ctx, name: str, commit: bool = False) -> Path:
    path = ctx.root / name
    git(ctx.root, "init", "-q", "-b", "main", str(path), env=ctx.env)
    if commit:
        git(path, "commit", "-q", "--allow-empty", "-m", "initial", env=ctx.env)
    return path


def _target_oid(ctx: Ctx, repo: Path) -> str:
    """A commit for the bare update-ref reference to point refs at."""
    res = git(repo, "commit-tree", EMPTY_TREE, "-m", "bench", env=ctx.env)
    return res.stdout.decode().strip()


def _bare_cas(repo: Path, env: dict[str, str], ref: str, oid: str) -> None:
    res = subprocess.run(["git", "update-ref", ref, oid, ZERO], cwd=repo, env=env,
                         capture_output=True)
    if res.returncode != 0:
        raise RuntimeError(f"reference update-ref failed: {res.stderr.decode().strip()}")


def _pair(n: int, warmup: int, a: Callable[[int], object],
          b: Callable[[int], object]) -> tuple[list[float], list[float]]:
    """Time a(i) and b(i) interleaved (alternating which goes first); drop warm-up runs."""
    ta: list[float] = []
    tb: list[float] = []
    for i in range(-warmup, n):
        order = ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta))
        for fn, sink in order:
            t0 = time.perf_counter()
            fn(i)
            dt = time.perf_counter() - t0
            if i >= 0:
                sink.append(dt)
    return ta, tb


def _latency_row(key: str, metric: str, vals: list[float], reference: str, refs: list[float],
                 target_max: float | None, note: str = "",
                 extra: dict[str, Any] | None = None) -> Row:
    v, r = _ms(vals), _ms(refs)
    ratio = median(v) / median(r) if refs else None
    return Row(key=key, metric=metric, unit="ms", value=median(v), value_p95=p95(v),
               reference=reference, ref_value=median(r) if refs else None,
               ref_p95=p95(r) if refs else None, ratio=ratio,
               target=f"ratio <= {target_max:g}" if target_max is not None else "",
               target_max=target_max, n=len(vals), note=note, extra=extra or {}).judge()


@contextmanager
def _count_git() -> Iterator[list[tuple[str, ...]]]:
    """Record the git processes repobus starts in-process (diagnostic, never timed)."""
    calls: list[tuple[str, ...]] = []
    real = subprocess.run

    def spy(*args: Any, **kw: Any) -> Any:
        argv = args[0] if args else kw.get("args")
        if isinstance(argv, (list, tuple)) and argv and argv[0] == "git":
            calls.append(tuple(argv[1:3]))
        return real(*args, **kw)

    subprocess.run = spy
    try:
        yield calls
    finally:
        subprocess.run = real


# -- sections -----------------------------------------------------------------------------

def bench_claim(ctx: Ctx) -> list[Row]:
    from repobus.bus import open_bus

    repo = _new_repo(ctx, "claim")
    bus = open_bus(repo)
    oid = _target_oid(ctx, repo)
    n = ctx.sizes.claim_n
    vals, refs = _pair(
        n, ctx.sizes.warmup,
        lambda i: bus.claim("bench-a", f"T-{i + 100}"),
        lambda i: _bare_cas(repo, ctx.env, f"refs/x/{i + 100}", oid),
    )
    ctx.facts["claim_inproc_ms"] = median(_ms(vals))
    rows = [_latency_row("claim_inproc", "claim, in-process: bus.claim() on a fresh task", vals,
                         "git update-ref CAS", refs, 3.0)]
    # diagnostic: how many git processes each operation starts
    from repobus.errors import ConflictError
    from repobus.views import overview as views

    counts: dict[str, int] = {}
    with _count_git() as calls:
        bus.claim("bench-a", "G-1")
        counts["claim won"] = len(calls)
        calls.clear()
        with suppress(ConflictError):
            bus.claim("bench-b", "G-1")
        counts["claim lost"] = len(calls)
        calls.clear()
        bus.log("bench-a", "status", "summary")
        counts["log"] = len(calls)
        calls.clear()
        bus.log("bench-a", "status", "summary", task="G-1")
        counts["guarded log"] = len(calls)
        calls.clear()
        views.status(bus, limit=20)
        counts["status"] = len(calls)
    rows.append(Row(key="git_processes", metric="git processes per in-process operation",
                    unit="count", value=float(counts["claim won"]),
                    note=", ".join(f"{k} {v}" for k, v in counts.items()),
                    extra={"counts": counts}))
    return rows


def bench_cli(ctx: Ctx) -> list[Row]:
    repo = _new_repo(ctx, "cli")
    oid = _target_oid(ctx, repo)
    env = dict(ctx.env, REPOBUS_AGENT="bench-cli")
    py = sys.executable

    def ref(i: int) -> None:
        _run([py, "-c", "pass"], repo, env)
        _bare_cas(repo, env, f"refs/y/{i + 100}", oid)

    vals, refs = _pair(
        ctx.sizes.cli_n, ctx.sizes.warmup,
        lambda i: _run([ctx.exe, "claim", "--task", f"C-{i + 100}"], repo, env),
        ref,
    )
    return [_latency_row("claim_cli", "claim, CLI: repobus claim --task T", vals,
                         "python -c pass + update-ref", refs, 4.0)]


def bench_version(ctx: Ctx) -> list[Row]:
    py = sys.executable
    vals, refs = _pair(
        ctx.sizes.version_n, ctx.sizes.warmup,
        lambda i: _run([ctx.exe, "--version"], ctx.root, ctx.env),
        lambda i: _run([py, "-c", "pass"], ctx.root, ctx.env),
    )
    return [
        _latency_row("version", "repobus --version", vals, "python -c pass", refs, 2.5),
        _latency_row("version_issue6", "repobus --version (issue 6 target)", vals,
                     "python -c pass", refs, 2.0),
    ]


def _append_threads(n_threads: int, each: int, fn: Callable[[int, int], None]) -> float:
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(each):
                fn(t, i)
        except BaseException as exc:  # reported after join
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(n_threads)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=600)
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"append thread failed: {errors[0]!r}")
    if any(th.is_alive() for th in threads):
        raise RuntimeError("append thread did not finish in 600 s")
    return wall


def bench_append(ctx: Ctx) -> list[Row]:
    from repobus.bus import open_bus

    s = ctx.sizes
    repo = _new_repo(ctx, "append")
    oid = _target_oid(ctx, repo)
    bus = open_bus(repo)
    vals, refs = _pair(
        s.append_n, s.warmup,
        lambda i: bus.log("solo", "status", "summary"),
        lambda i: _bare_cas(repo, ctx.env, f"refs/z/{i + 100}", oid),
    )
    rate, ref_rate = len(vals) / sum(vals), len(refs) / sum(refs)
    rows = [Row(key="append_1", metric="event append, in-process, 1 agent: bus.log()",
                unit="ev/s", value=rate, reference="git update-ref CAS, 1 thread",
                ref_value=ref_rate, ratio=ref_rate / rate, n=len(vals),
                note=f"per event median {median(_ms(vals)):.2f} ms, p95 {p95(_ms(vals)):.2f} ms",
                extra={"latency_ms_median": median(_ms(vals)), "latency_ms_p95": p95(_ms(vals))})]

    k = s.append_threads
    buses = [open_bus(repo) for _ in range(k)]
    rates: list[float] = []
    ref_rates: list[float] = []
    for rep in range(s.append_reps):
        def ours(t: int, i: int) -> None:
            buses[t].log(f"thread-{t}", "status", "summary")

        def bare(t: int, i: int, rep: int = rep) -> None:
            _bare_cas(repo, ctx.env, f"refs/w/{rep}/{t}/{i}", oid)

        order = (("o", ours), ("b", bare)) if rep % 2 == 0 else (("b", bare), ("o", ours))
        for tag, fn in order:
            wall = _append_threads(k, s.append_each, fn)
            (rates if tag == "o" else ref_rates).append(k * s.append_each / wall)
    # nothing lost: every chain holds exactly what was appended, and verifies
    expect = s.append_each * s.append_reps
    lost = []
    for t in range(k):
        got = int(git(repo, "rev-list", "--count", f"refs/repobus/events/thread-{t}",
                      env=ctx.env).stdout)
        if got != expect:
            lost.append(f"thread-{t}: {got}/{expect}")
    problems = list(bus.store.verify())
    rate4, ref4 = median(rates), median(ref_rates)
    rows.append(Row(key="append_4", metric=f"event append, in-process, {k} agents in {k} threads",
                    unit="ev/s", value=rate4, reference=f"git update-ref CAS, {k} threads",
                    ref_value=ref4, ratio=ref4 / rate4, n=k * s.append_each * s.append_reps,
                    passed=None if not (lost or problems) else False,
                    note=("all chains complete, verify ok" if not (lost or problems) else
                          f"LOST {lost} / verify problems {len(problems)}"),
                    extra={"rates": rates, "ref_rates": ref_rates}))
    return rows


_JSONL_READER = (
    "import json,sys\n"
    "with open(sys.argv[1],encoding='utf-8') as fh:\n"
    "    rows=[json.loads(l) for l in fh if l.strip()]\n"
    "sys.stdout.write(json.dumps(rows[-20:]))\n"
)


def _status_pair(ctx: Ctx, repo: Path, jsonl: Path, runs: int) -> tuple[list[float], list[float]]:
    py = sys.executable
    outputs: dict[str, bytes] = {}

    def ours(i: int) -> None:
        outputs["ours"] = _run([ctx.exe, "status", "--json", "--limit", "20"], repo, ctx.env)

    def ref(i: int) -> None:
        outputs["ref"] = _run([py, "-c", _JSONL_READER, str(jsonl)], repo, ctx.env)

    vals, refs = _pair(runs, 1, ours, ref)
    got = [{k: v for k, v in e.items() if k != "_index"}
           for e in json.loads(outputs["ours"])["events"]]
    want = json.loads(outputs["ref"])
    if got != want:
        raise RuntimeError(f"status in {repo} does not show the last 20 events of the jsonl")
    return vals, refs


def bench_status(ctx: Ctx) -> list[Row]:
    from benchmarks.gen import generate

    rows: list[Row] = []
    sizes = ctx.sizes.status_sizes
    now = int(time.time())
    for size in sizes:
        tasks = max(50, size // 200)
        repo = ctx.root / f"status-{size}"
        jsonl = ctx.root / f"status-{size}.jsonl"
        info = generate(repo, size, tasks, 8, seed=size, now=now, jsonl=jsonl, env=ctx.env)
        ctx.log(f"  generated {size:,} events, {tasks} claims in {info['seconds']:.1f} s")
        t0 = time.perf_counter()
        out = _run([ctx.exe, "verify", "--json"], repo, ctx.env, ok=(0, 1))
        vt = time.perf_counter() - t0
        verified = json.loads(out).get("ok") is True
        runs = ctx.sizes.status_runs[size]
        vals, refs = _status_pair(ctx, repo, jsonl, runs)
        label = f"{size // 1000}k"
        rows.append(_latency_row(
            f"status_{label}", f"repobus status --json --limit 20, {label} events", vals,
            "events.jsonl full read (python)", refs, None,
            extra={"generate_seconds": info["seconds"], "tasks": tasks, "agents": 8}))
        rows.append(Row(key=f"verify_{label}", metric=f"repobus verify, {label} events",
                        unit="ms", value=vt * 1000, n=1, passed=None if verified else False,
                        note="" if verified else "VERIFY FAILED on the generated bus"))
        if size == sizes[-1]:
            git(repo, "commit-graph", "write", "--reachable", env=ctx.env)
            vals, refs = _status_pair(ctx, repo, jsonl, max(3, runs // 2))
            rows.append(_latency_row(
                f"status_{label}_graph", "  same, after git commit-graph write", vals,
                "events.jsonl full read (python)", refs, None))
        if size == sizes[0]:
            lrepo = ctx.root / f"status-{size}-loose"
            generate(lrepo, size, tasks, 8, seed=size, now=now, env=ctx.env, loose=True)
            vals, refs = _status_pair(ctx, lrepo, jsonl, runs)
            rows.append(_latency_row(
                f"status_{label}_loose", "  same, loose objects (as repobus writes them)", vals,
                "events.jsonl full read (python)", refs, None))
        shutil.rmtree(repo, ignore_errors=True)
        shutil.rmtree(ctx.root / f"status-{size}-loose", ignore_errors=True)
        jsonl.unlink(missing_ok=True)
    return rows


# -- the 16-way race ----------------------------------------------------------------------

def _reader(proc: subprocess.Popen[bytes], idx: int, q: queue.Queue[tuple[int, str]]) -> None:
    assert proc.stdout is not None
    for raw in proc.stdout:
        q.put((idx, raw.decode(errors="replace").rstrip("\n")))
    q.put((idx, "<eof>"))


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop every worker we started, by its own handle (PID); never by name."""
    for p in procs:
        if p.poll() is None and p.stdin is not None:
            try:
                p.stdin.write(b"quit\n")
                p.stdin.close()
            except OSError:
                pass
    deadline = time.monotonic() + 5
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


@dataclass
class RaceResult:
    rounds: int
    one_winner: int = 0
    errors: list[str] = field(default_factory=list)
    round_ms: list[float] = field(default_factory=list)
    claim_ms: list[float] = field(default_factory=list)
    won_by: dict[str, str] = field(default_factory=dict)


def run_race(ctx: Ctx, places: list[Path], agents: list[str], rounds: int,
             prefix: str = "R", round_timeout: float = 30) -> RaceResult:
    """Race `len(agents)` long-lived `_race_worker.py` processes (agent i works in
    places[i * len(places) // len(agents)]) for one fresh task per round, all released at
    once by writing the task id to their stdins.  Stops every worker (by PID) at the end."""
    q: queue.Queue[tuple[int, str]] = queue.Queue()
    procs: list[subprocess.Popen[bytes]] = []
    worker = str(HERE / "_race_worker.py")
    res = RaceResult(rounds)
    where = [places[i * len(places) // len(agents)] for i in range(len(agents))]
    try:
        for idx, agent in enumerate(agents):
            p = subprocess.Popen([sys.executable, worker, str(where[idx]), agent],
                                 cwd=where[idx], env=ctx.env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, bufsize=0)
            procs.append(p)
            ctx.procs.append(p)
            threading.Thread(target=_reader, args=(p, idx, q), daemon=True).start()
        ready = 0
        deadline = time.monotonic() + 60
        while ready < len(procs):
            idx, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            if line != "ready":
                raise RuntimeError(f"race worker {agents[idx]} failed to start: {line}")
            ready += 1
        timeouts = 0
        n = len(procs)
        for r in range(rounds):
            task = f"{prefix}-{r:04d}"
            msg = (task + "\n").encode()
            t0 = time.perf_counter()
            for p in procs:
                assert p.stdin is not None
                p.stdin.write(msg)
            answers: dict[int, list[str]] = {}
            deadline = time.monotonic() + round_timeout
            try:
                while len(answers) < n:
                    idx, line = q.get(timeout=max(0.01, deadline - time.monotonic()))
                    parts = line.split(" ", 3)
                    if len(parts) < 3 or parts[1] != task:
                        raise RuntimeError(f"race worker {agents[idx]}: unexpected {line!r}")
                    answers[idx] = parts
            except queue.Empty:
                timeouts += 1
                res.errors.append(f"round {r}: only {len(answers)} of {n} answered in "
                                  f"{round_timeout:g} s")
                if timeouts >= 3:
                    raise RuntimeError("race aborted: 3 rounds timed out") from None
                # drain the late answers of this round before the next one starts
                late = time.monotonic() + round_timeout
                while len(answers) < n and time.monotonic() < late:
                    with suppress(queue.Empty):
                        idx, line = q.get(timeout=1)
                        answers[idx] = line.split(" ", 3)
                continue
            res.round_ms.append((time.perf_counter() - t0) * 1000)
            winners = [agents[i] for i, a in answers.items() if a[0] == "won"]
            errs = [f"{agents[i]}: {' '.join(a[3:])}" for i, a in answers.items()
                    if a[0] == "error"]
            res.claim_ms += [float(a[2]) * 1000 for a in answers.values()]
            if len(winners) == 1 and not errs:
                res.one_winner += 1
                res.won_by[task] = winners[0]
            else:
                res.errors.append(f"round {r}: {len(winners)} winners {winners} {errs[:2]}")
    finally:
        _stop(procs)
    return res


def bench_race(ctx: Ctx) -> list[Row]:
    from repobus.bus import open_bus

    main = _new_repo(ctx, "race/main", commit=True)
    worktrees = []
    for k in range(4):
        wt = ctx.root / "race" / f"wt{k}"
        git(main, "worktree", "add", "-q", "--detach", str(wt), env=ctx.env)
        worktrees.append(wt)
    agents = [f"racer-{k}-{j}" for k in range(4) for j in range(4)]
    rounds = ctx.sizes.race_rounds
    race = run_race(ctx, worktrees, agents, rounds)
    bus = open_bus(main)
    held = {s.key: s.record.get("agent_id") for s in bus.store.list("claims")}
    mismatched = [t for t, a in race.won_by.items() if held.get(t) != a]
    problems = list(bus.store.verify())
    good = race.one_winner - len(mismatched)
    errors = race.errors
    note = f"{len(errors)} bad rounds" + (f"; first: {errors[0]}" if errors else "")
    if mismatched:
        note += f"; {len(mismatched)} rounds where the ref holder is not the reported winner"
    if problems:
        note += f"; verify: {len(problems)} problems"
    round_ms, claim_ms = race.round_ms, race.claim_ms
    return [
        Row(key="race16", metric="16-way race (4 worktrees x 4 processes): one winner",
            unit="rounds", value=float(good), n=rounds, target=f"{rounds} of {rounds}",
            passed=good == rounds and not problems, note=note,
            extra={"errors": errors[:20]}),
        Row(key="race16_round", metric="16-way race: round time (release to last answer)",
            unit="ms", value=median(round_ms), value_p95=p95(round_ms), n=len(round_ms)),
        Row(key="race16_claim", metric="16-way race: bus.claim() latency in a racer",
            unit="ms", value=median(claim_ms), value_p95=p95(claim_ms),
            reference="uncontended bus.claim()", ref_value=ctx.facts.get("claim_inproc_ms"),
            ratio=(median(claim_ms) / ctx.facts["claim_inproc_ms"]
                   if ctx.facts.get("claim_inproc_ms") else None), n=len(claim_ms)),
    ]


def _bench_remote(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_remote import bench_remote

    return bench_remote(ctx)


def _bench_transports(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_transports import bench_transports

    return bench_transports(ctx)


def _bench_history(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_history import bench_history

    return bench_history(ctx)


def _bench_reads(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_reads import bench_reads

    return bench_reads(ctx)


def _bench_dashboard(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_dashboard import bench_dashboard

    return bench_dashboard(ctx)


def _bench_scale(ctx: Ctx) -> list[Row]:
    from benchmarks.bench_scale import bench_scale

    return bench_scale(ctx)


# -- report -------------------------------------------------------------------------------

def _fmt_val(unit: str, v: float | None, p: float | None = None) -> str:
    if v is None:
        return "-"
    if unit == "ms":
        return f"{v:.2f} ms" + (f" (p95 {p:.2f})" if p is not None else "")
    if unit == "ev/s":
        return f"{v:,.0f} ev/s"
    if unit == "rounds":
        return f"{v:.0f}"
    if unit == "MB":
        return f"{v:.1f} MB"
    if unit == "%":
        return f"{v:.2f} % of a core"
    if unit == "s":
        return f"{v:.1f} s" + (f" (p95 {p:.1f})" if p is not None else "")
    return f"{v:g}" + (f" {unit}" if unit else "")


def render(rows: list[Row]) -> str:
    table = [("metric", "value", "reference", "ratio", "target", "result")]
    for r in rows:
        ref = f"{r.reference}: {_fmt_val(r.unit, r.ref_value, r.ref_p95)}" if r.reference else "-"
        value = _fmt_val(r.unit, r.value, r.value_p95)
        if r.unit == "rounds":
            value = f"{r.value:.0f} of {r.n}"
        if r.unit == "count":
            value = r.note
        result = "info" if r.passed is None else ("PASS" if r.passed else "FAIL")
        table.append((r.metric, value, ref, f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                      r.target or "-", result))
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    lines = []
    for j, row in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {r.metric.strip()}: {r.note}" for r in rows if r.note and r.unit != "count"]
    return "\n".join(lines + (["", "notes:"] + notes if notes else []))


def _meta(ctx: Ctx, started: float) -> dict[str, Any]:
    import repobus

    gitv = git(ctx.root, "--version", env=ctx.env).stdout.decode().strip()
    return {
        "quick": ctx.quick, "repobus": repobus.__version__, "git": gitv,
        "python": sys.version.split()[0], "platform": platform.platform(),
        "cpus": os.cpu_count(), "console_script": ctx.exe,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1), "sizes": asdict(ctx.sizes),
        "loadavg_start": ctx.facts.get("loadavg_start"), "loadavg_end": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _console_script() -> str:
    exe = os.path.join(os.path.dirname(sys.executable), "repobus")
    if os.path.exists(exe):
        return exe
    found = shutil.which("repobus")
    if not found:
        raise SystemExit("the repobus console script is not installed next to "
                         f"{sys.executable}; pip install -e . first")
    return found


def _on_term(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes (< 60 s for the first six sections)")
    ap.add_argument("--out", default=str(HERE / "results" / "bench.json"),
                    help="where to write the JSON results")
    ap.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}")
    a = ap.parse_args(argv)
    wanted = [s.strip() for s in a.only.split(",")] if a.only else list(SECTIONS)
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="repobus-bench-"))
    env = isolated_env(root / "home")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # repobus in this process runs git with this environment too
    old_term = signal.signal(signal.SIGTERM, _on_term)
    from repobus.git import gitcmd

    if hasattr(gitcmd, "_ENV"):
        gitcmd._ENV = None
    ctx = Ctx(root=root, env=env, sizes=QUICK if a.quick else FULL, quick=a.quick,
              exe=_console_script(), log=lambda m: print(m, file=sys.stderr, flush=True))
    ctx.facts["loadavg_start"] = _loadavg()
    funcs = {"claim": bench_claim, "cli": bench_cli, "version": bench_version,
             "append": bench_append, "status": bench_status, "race": bench_race,
             "remote": _bench_remote, "scale": _bench_scale, "transports": _bench_transports,
             "history": _bench_history, "reads": _bench_reads, "dashboard": _bench_dashboard}
    rows: list[Row] = []
    failed: str | None = None
    try:
        for name in wanted:
            t0 = time.perf_counter()
            ctx.log(f"[{name}] ...")
            rows += funcs[name](ctx)
            ctx.log(f"[{name}] done in {time.perf_counter() - t0:.1f} s")
    except KeyboardInterrupt:
        failed = "interrupted"
    except Exception as exc:
        import traceback

        traceback.print_exc()
        failed = f"{type(exc).__name__}: {exc}"
    finally:
        _stop([p for p in ctx.procs if p.poll() is None])
        meta = _meta(ctx, started) if root.exists() else {}
        signal.signal(signal.SIGTERM, old_term)
        os.environ.clear()
        os.environ.update(saved)
        if hasattr(gitcmd, "_ENV"):
            gitcmd._ENV = None
        shutil.rmtree(root, ignore_errors=True)
    print(render(rows))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": {**meta, "sections": wanted, "failed": failed},
           "rows": [asdict(r) for r in rows]}
    out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"\nwrote {out}  ({meta.get('seconds', '?')} s; {meta.get('cpus')} CPUs; load average "
          f"at start {meta.get('loadavg_start')}, at end {meta.get('loadavg_end')})")
    if failed:
        print(f"benchmark failed: {failed}", file=sys.stderr)
        return 2
    return 1 if any(r.passed is False for r in rows) else 0


if __name__ == "__main__":
    # bench_remote and bench_scale import this module by name: let them share this copy
    sys.modules.setdefault("benchmarks.bench", sys.modules[__name__])
    raise SystemExit(main())
