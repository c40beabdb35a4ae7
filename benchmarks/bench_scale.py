"""Section `scale` (issue 6): a bus of 1k, 100k and 1M events (`--quick`: 1k and 20k) over
10k tasks and 200 agents, built by `benchmarks.gen`, nothing cached across runs.

At each size: `repobus reindex` (timed once), then `repobus status --json --limit 20` (CLI,
quiet bus) interleaved with the original scripts' method on an `events.jsonl` of the same
events.  At the largest size also: status there vs status at 1k (interleaved), the status
process's peak memory, the git store after `git gc` vs the JSONL, and `watch --follow`
latency and idle CPU (follower and writer in two worktrees of the generated repository).
At every size also the derived index's size right after `reindex` against the JSONL.
Plus `repobus --version` vs `python -c pass`.
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import git, median, p95, terminate
from benchmarks.bench import Ctx, Row, _latency_row, _ms, _pair, _run
from repobus.records.shown import PAGE_SIZE


@dataclass(frozen=True)
class ScaleSizes:
    sizes: tuple[int, ...]
    status_runs: dict[int, int]
    ratio_runs: int
    mem_runs: int
    watch_events: int
    idle_seconds: float
    version_n: int
    warmup: int


FULL = ScaleSizes(sizes=(1_000, 100_000, 1_000_000),
                  status_runs={1_000: 15, 100_000: 9, 1_000_000: 5}, ratio_runs=11, mem_runs=3,
                  watch_events=60, idle_seconds=10.0, version_n=100, warmup=3)
QUICK = ScaleSizes(sizes=(1_000, 20_000), status_runs={1_000: 5, 20_000: 5}, ratio_runs=5,
                   mem_runs=2, watch_events=50, idle_seconds=10.0, version_n=20, warmup=2)
TASKS = 10_000
AGENTS = 200
STATUS = ("status", "--json", "--limit", "20")

# the original scripts' method: parse every line of events.jsonl, keep the last 20
# (a bounded deque, so the reference is not slowed by holding 1M dicts)
_JSONL_READER = (
    "import collections,json,sys\n"
    "with open(sys.argv[1],encoding='utf-8') as fh:\n"
    "    rows=collections.deque((json.loads(l) for l in fh if l.strip()),maxlen=20)\n"
    "sys.stdout.write(json.dumps(list(rows)))\n"
)


def _label(size: int) -> str:
    return f"{size // 1_000_000}M" if size >= 1_000_000 and size % 1_000_000 == 0 else \
        f"{size // 1000}k"


def _settle(ctx: Ctx, repo: Path, label: str) -> None:
    """Set the repository up as a user's is (`repobus init` turns the `_bus/` mirror on and
    writes it), let the ref directories age past the index's trust window and read twice:
    status is then measured in its steady state."""
    t0 = time.perf_counter()
    _run([ctx.exe, "init", "--no-remote", "--agent", "bench"], repo, ctx.env)
    ctx.log(f"  repobus init {label} (writes the _bus/ mirror): {time.perf_counter() - t0:.1f} s")
    time.sleep(1.0)
    for _ in range(2):
        _run([ctx.exe, *STATUS], repo, ctx.env)


def _status_vs_jsonl(ctx: Ctx, repo: Path, jsonl: Path, runs: int
                     ) -> tuple[list[float], list[float], int]:
    outputs: dict[str, bytes] = {}

    def ours(i: int) -> None:
        outputs["ours"] = _run([ctx.exe, *STATUS], repo, ctx.env)

    def ref(i: int) -> None:
        outputs["ref"] = _run([sys.executable, "-c", _JSONL_READER, str(jsonl)], repo, ctx.env)

    vals, refs = _pair(runs, 1, ours, ref)
    doc = json.loads(outputs["ours"])
    got = [{k: v for k, v in e.items() if k != "_index"} for e in doc["events"]]
    if got != json.loads(outputs["ref"]):
        raise RuntimeError(f"status in {repo} does not show the last 20 events of the jsonl")
    if len(doc["claims"]) != PAGE_SIZE or doc["next_cursor"] is None:  # live work, paged
        raise RuntimeError(f"status in {repo} lists {len(doc['claims'])} claims, not a page")
    return vals, refs, len(outputs["ours"])


def _after_write(ctx: Ctx, repo: Path, runs: int, label: str) -> Row:
    """Issue 14: `status --json --limit 20` right after a `repobus log` (CLI) in the same
    worktree, against status on a quiet bus (the refs untouched for over 2 s, then one read
    to let it settle, untimed), interleaved."""
    after: list[float] = []
    quiet: list[float] = []
    env = {**ctx.env, "REPOBUS_AGENT": "bench-writer"}
    for i in range(-1, runs):
        _run([ctx.exe, "log", "--event", "status", "--summary", f"after-{i}"], repo, env)
        t0 = time.perf_counter()
        out = _run([ctx.exe, *STATUS], repo, ctx.env)
        dt = time.perf_counter() - t0
        if json.loads(out)["events"][-1]["summary"] != f"after-{i}":
            raise RuntimeError(f"status right after a write in {repo} missed the write")
        time.sleep(2.2)
        _run([ctx.exe, *STATUS], repo, ctx.env)
        t0 = time.perf_counter()
        _run([ctx.exe, *STATUS], repo, ctx.env)
        if i >= 0:
            after.append(dt)
            quiet.append(time.perf_counter() - t0)
    return _latency_row(f"scale_status_after_write_{label}",
                        f"  status right after a write, {label} events", after,
                        "status on a quiet bus", quiet, 1.5,
                        note="the write: repobus log (CLI), _bus/ mirror on; the status "
                             "must show it")


TIME = "/usr/bin/time"


def _maxrss_mb(ctx: Ctx, argv: list[str], cwd: Path) -> float:
    """Peak RSS (MB) of one run of `argv`, as GNU time's %M reports it: the command and the
    children it waited for (git), whichever peaked highest.  (wait4() on our own child would
    also count this benchmark process's pages: subprocess starts children by vfork.)"""
    out = ctx.root / "maxrss.txt"
    _run([TIME, "-f", "%M", "-o", str(out), *argv], cwd, ctx.env)
    return int(out.read_text().split()[-1]) / 1024


def _store_size(ctx: Ctx, repo: Path, jsonl: Path, judged: bool) -> tuple[Row, float]:
    common = repo / ".git"
    t0 = time.perf_counter()
    git(repo, "gc", "--quiet", env=ctx.env)
    gc_s = time.perf_counter() - t0
    packdir = common / "objects" / "pack"
    counted = sorted(p for p in packdir.iterdir() if p.suffix in (".pack", ".idx", ".rev",
                                                                    ".bitmap"))
    pack_bytes = sum(p.stat().st_size for p in counted)
    co = dict(line.split(": ", 1) for line in
              git(repo, "count-objects", "-v", env=ctx.env).stdout.decode().splitlines())
    loose_bytes = int(co.get("size", "0")) * 1024
    store = pack_bytes + loose_bytes
    plain = jsonl.stat().st_size
    # the same events without repobus's chain fields, as the original scripts kept them
    from repobus.records import models

    bare_plain = 0
    with open(jsonl, encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            rec.pop("seq", None)
            rec.pop("prev_hash", None)
            bare_plain += len(models.event_line(rec).encode("utf-8"))

    def size(p: Path) -> int:
        return p.stat().st_size if p.exists() else 0

    graph = size(common / "objects" / "info" / "commit-graph")
    packed = size(common / "packed-refs")
    index = sum(size(common / "repobus" / f"index.sqlite3{s}") for s in ("", "-wal", "-shm"))
    mb = 1024 * 1024
    kinds = ", ".join(sorted({p.suffix for p in counted}))
    note = (f"{TASKS:,} claim commits included; counted: objects/pack/*{{{kinds}}} "
            f"{pack_bytes / mb:.1f} MB + loose objects {loose_bytes / mb:.1f} MB; "
            f"events.jsonl with the same records (seq, prev_hash included) {plain / mb:.1f} MB; "
            f"without them {bare_plain / mb:.1f} MB (ratio {store / bare_plain:.2f}); "
            f"not counted: commit-graph {graph / mb:.1f} MB, packed-refs {packed / mb:.1f} MB, "
            f"derived index (SQLite) {index / mb:.1f} MB ({index / plain:.2f}x the JSONL); "
            f"git gc took {gc_s:.1f} s")
    row = Row(key="scale_store", metric="  git store after git gc (pack+idx+loose)", unit="MB",
              value=store / mb, reference="events.jsonl, same records", ref_value=plain / mb,
              ratio=store / plain, target="ratio <= 1.5" if judged else "(at 1M: <= 1.5)",
              target_max=1.5 if judged else None, n=1, note=note,
              extra={"pack_bytes": pack_bytes, "loose_bytes": loose_bytes,
                     "jsonl_bytes": plain, "jsonl_without_chain_fields_bytes": bare_plain,
                     "commit_graph_bytes": graph, "packed_refs_bytes": packed,
                     "index_bytes": index, "gc_seconds": gc_s,
                     "files": [p.name for p in counted]}).judge()
    return row, gc_s


def _index_size(repo: Path, jsonl: Path, label: str, judged: bool) -> Row:
    """The derived index right after `reindex` (its WAL included) vs the JSONL (issue 14)."""
    base = repo / ".git" / "repobus" / "index.sqlite3"
    files = (base, Path(f"{base}-wal"), Path(f"{base}-shm"))
    size = sum(p.stat().st_size for p in files if p.exists())
    plain, mb = jsonl.stat().st_size, 1 << 20
    return Row(key=f"scale_index_{label}", metric=f"  derived index after reindex, {label} events",
               unit="MB", value=size / mb, reference="events.jsonl, same records",
               ref_value=plain / mb, ratio=size / plain, n=1,
               target="ratio <= 1" if judged else "(at 1M: <= 1)",
               target_max=1.0 if judged else None,
               note=f"index.sqlite3 (+ -wal, -shm); {TASKS:,} claims' slots included",
               extra={"index_bytes": size, "jsonl_bytes": plain}).judge()


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    # after the command name: state is field 3, utime..cstime are fields 14..17
    return sum(int(x) for x in fields[11:15])


def _watch(ctx: Ctx, repo: Path, n_events: int, idle_s: float, label: str) -> list[Row]:
    from repobus.bus import open_bus
    from repobus.git import gitcmd

    git(repo, "commit", "-q", "--allow-empty", "-m", "initial", env=ctx.env)
    wt_follow, wt_write = ctx.root / "watch-follow", ctx.root / "watch-write"
    for wt in (wt_follow, wt_write):
        git(repo, "worktree", "add", "-q", "--detach", str(wt), env=ctx.env)
    gitcmd._ENV = None
    bus = open_bus(wt_write)
    errf = open(ctx.root / "watch.stderr", "wb")  # noqa: SIM115 (closed below)
    p = subprocess.Popen([ctx.exe, "watch", "--follow", "--limit", "0"], cwd=wt_follow,
                         env=ctx.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=errf, bufsize=0)
    ctx.procs.append(p)
    lines: queue.Queue[tuple[float, str]] = queue.Queue()

    def read() -> None:
        assert p.stdout is not None
        for raw in p.stdout:
            lines.put((time.perf_counter(), raw.decode(errors="replace")))
        lines.put((time.perf_counter(), "<eof>"))

    threading.Thread(target=read, daemon=True).start()

    def wait_for(token: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                t, line = lines.get(timeout=left)
            except queue.Empty:
                return None
            if line == "<eof>":
                err = (ctx.root / "watch.stderr").read_text(errors="replace")
                raise RuntimeError(f"repobus watch --follow exited: {err.strip()[-500:]}")
            if line.rstrip("\n").endswith(f":: {token}"):
                return t

    try:
        # ready once a probe written after the start shows up
        deadline = time.monotonic() + 60
        k = 0
        while True:
            k += 1
            bus.log("watch-writer", "status", f"probe-{k}")
            if wait_for(f"probe-{k}", 2.0) is not None:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("repobus watch --follow showed no event in 60 s")
        rng = random.Random(6)
        lat: list[float] = []
        missed = 0
        for i in range(n_events):
            time.sleep(rng.uniform(0.05, 0.3))  # spread the writes over the poll phase
            bus.log("watch-writer", "status", f"watch-{i}")
            t_written = time.perf_counter()
            seen = wait_for(f"watch-{i}", 5.0)
            if seen is None:
                missed += 1
                lat.append(5.0)
            else:
                lat.append(seen - t_written)
        time.sleep(1.0)
        hz = os.sysconf("SC_CLK_TCK")
        c0, w0 = _cpu_ticks(p.pid), time.monotonic()
        time.sleep(idle_s)
        c1, w1 = _cpu_ticks(p.pid), time.monotonic()
        cpu = (c1 - c0) / hz / (w1 - w0) * 100
        if p.poll() is not None:
            raise RuntimeError("repobus watch --follow exited while idle")
    finally:
        terminate(p)
        errf.close()
    ms = _ms(lat)
    return [
        Row(key="scale_watch_latency", metric=f"watch --follow: write to line shown, {label} "
            "bus, other worktree", unit="ms", value=median(ms), value_p95=p95(ms),
            target="p95 <= 300 ms", passed=p95(ms) <= 300 and missed == 0, n=len(lat),
            note=f"in-process bus.log in worktree B, `repobus watch --follow --limit 0` in "
                 f"worktree A (default --poll 0.1); {missed} not shown within 5 s",
            extra={"latencies_ms": [round(x, 2) for x in ms]}),
        Row(key="scale_watch_idle_cpu", metric="watch --follow: CPU while idle", unit="%",
            value=cpu, target="< 2 % of a core", passed=cpu < 2.0, n=1,
            note=f"/proc/<pid>/stat utime+stime+cutime+cstime over {w1 - w0:.1f} s",
            extra={"ticks": c1 - c0, "clk_tck": hz}),
    ]


def _largest(ctx: Ctx, s: ScaleSizes, size: int, repo: Path, jsonl: Path,
             small: Path | None) -> list[Row]:
    """The rows measured only on the largest bus."""
    label = _label(size)
    rows: list[Row] = []

    def status_of(path: Path, *extra: str) -> Callable[[int], object]:
        return lambda i: _run([ctx.exe, *STATUS, *extra], path, ctx.env)

    if small is not None:
        a, b = _pair(s.ratio_runs, 1, status_of(repo), status_of(small))
        rows.append(_latency_row(f"scale_status_{label}_vs_1k", f"  status at {label} vs at 1k",
                                 a, "status at 1k events", b, 1.5,
                                 note="the two buses interleaved in one loop"))
    # diagnostic: how much of status is the claims list (all 10k claims are printed)
    a, b = _pair(s.mem_runs + 2, 1, status_of(repo, "--active-only"), status_of(repo))
    rows.append(_latency_row(f"scale_status_{label}_active",
                             "  same, --active-only (1k active claims)", a,
                             "status (10k claims)", b, None))
    if os.access(TIME, os.X_OK):
        rss = [_maxrss_mb(ctx, [ctx.exe, *STATUS], repo) for _ in range(s.mem_runs)]
        base = [_maxrss_mb(ctx, [sys.executable, "-c", "pass"], repo) for _ in range(s.mem_runs)]
        rows.append(Row(
            key=f"scale_status_rss_{label}", metric=f"  peak memory of status, {label} events",
            unit="MB", value=max(rss), reference="python -c pass", ref_value=max(base),
            target="<= 80 MB", passed=max(rss) <= 80, n=len(rss),
            note=f"max RSS (/usr/bin/time -f %M: the process or a git child it ran); "
                 f"runs: {', '.join(f'{x:.1f}' for x in rss)}"))
    else:
        rows.append(Row(key=f"scale_status_rss_{label}",
                        metric=f"  peak memory of status, {label} events", unit="MB",
                        value=float("nan"), target="<= 80 MB", passed=False,
                        note=f"not measured: {TIME} (GNU time) is missing"))
    row, _ = _store_size(ctx, repo, jsonl, judged=size >= 1_000_000)
    row.metric = f"  git store after git gc, {label} events"
    rows.append(row)
    ctx.log(f"  store {label}: {row.value:.1f} MB vs JSONL {row.ref_value or 0:.1f} MB")
    rows += _watch(ctx, repo, s.watch_events, s.idle_seconds, label)
    return rows


def bench_scale(ctx: Ctx) -> list[Row]:
    from benchmarks.gen import generate

    s = QUICK if ctx.quick else FULL
    rows: list[Row] = []
    now = int(time.time())
    small: Path | None = None
    big = s.sizes[-1]
    try:
        for size in s.sizes:
            label = _label(size)
            repo = ctx.root / f"scale-{label}"
            jsonl = ctx.root / f"scale-{label}.jsonl"
            info = generate(repo, size, TASKS, AGENTS, seed=size, now=now, jsonl=jsonl,
                            env=ctx.env)
            ctx.log(f"  generated {size:,} events, {TASKS:,} tasks, {AGENTS} agents in "
                    f"{info['seconds']:.1f} s")
            t0 = time.perf_counter()
            out = _run([ctx.exe, "reindex", "--json"], repo, ctx.env)
            reindex_s = time.perf_counter() - t0
            doc: dict[str, Any] = json.loads(out)
            ok = doc.get("records") == size and doc.get("claims") == TASKS
            rows.append(Row(key=f"scale_reindex_{label}",
                            metric=f"repobus reindex, {label} events", unit="s",
                            value=reindex_s, n=1, passed=None if ok else False,
                            note="" if ok else f"reindex reported {doc}",
                            extra={"report": doc}))
            ctx.log(f"  reindex {label}: {reindex_s:.1f} s")
            rows.append(_index_size(repo, jsonl, label, judged=size >= 1_000_000))
            ctx.log(f"  index {label}: {rows[-1].value:.1f} MB, {rows[-1].ratio:.2f}x the JSONL")
            _settle(ctx, repo, label)
            vals, refs, nbytes = _status_vs_jsonl(ctx, repo, jsonl, s.status_runs[size])
            judged = size == big and size >= 1_000_000
            rows.append(_latency_row(
                f"scale_status_{label}", f"status --json --limit 20, {label} events", vals,
                "events.jsonl full read (python)", refs, 0.02 if judged else None,
                note=("target: >= 50x faster than the full read (ratio <= 0.02); "
                      if judged else "")
                + f"output {nbytes / 1e6:.1f} MB (live claims, a page of finished ones, 20 events; the bus has {TASKS:,} claims)",
                extra={"generate_seconds": info["seconds"], "tasks": TASKS, "agents": AGENTS,
                       "output_bytes": nbytes}))
            rows.append(_after_write(ctx, repo, max(3, s.status_runs[size] // 2), label))
            ctx.log(f"  status after a write {label}: ratio {rows[-1].ratio:.2f}")
            if size == big:
                rows += _largest(ctx, s, size, repo, jsonl, small)
            if size == s.sizes[0] and len(s.sizes) > 1:
                small = repo
            else:
                shutil.rmtree(repo, ignore_errors=True)
            jsonl.unlink(missing_ok=True)
    finally:
        if small is not None:
            shutil.rmtree(small, ignore_errors=True)
    vals, refs = _pair(s.version_n, s.warmup,
                       lambda i: _run([ctx.exe, "--version"], ctx.root, ctx.env),
                       lambda i: _run([sys.executable, "-c", "pass"], ctx.root, ctx.env))
    rows.append(_latency_row("scale_version", "repobus --version", vals, "python -c pass",
                             refs, 2.0))
    return rows
