"""Section `reads` (issue 14, deliver item 6): reads default to live work and page history.

On buses built by `benchmarks.gen`, their finished claims archived as an upgraded bus has them
(2,000 claims - 90 % finished days ago, the rest active -
over 50,000 events, 200 agents):
- the size of MCP `status` and `report` with default arguments, in tokens (characters / 4 of
  the text a model reads), against the target of 5,000;
and on a bus of LATENCY_EVENTS events (1M; `--quick`: 50k) over 10,000 tasks:
- the latency of MCP `task_history`, the dashboard's task page and its event filters (by agent,
  by event name, by task), in process, on a warm index, against the target of 50 ms; the scan
  of every event these reads did before is timed in the same run as the reference.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench import Ctx, Row, _run

TOKENS_MAX = 5_000
LATENCY_MS = 50.0


def upgraded_bus(ctx: Ctx, name: str, events: int, tasks: int) -> Path:
    """A generated bus (`benchmarks.gen`, 200 agents) set up as a user's is, in the layout it
    has once upgraded: finished claims in the archive (store/archive.py), the index built."""
    from benchmarks.gen import generate
    from repobus.bus import open_bus

    repo = ctx.root / name
    t0 = time.perf_counter()
    generate(repo, events=events, tasks=tasks, agents=200, env=ctx.env)
    _run([ctx.exe, "init", "--no-remote", "--agent", "bench"], repo, ctx.env)
    bus = open_bus(repo)
    bus.store.archive_finished(force=True)
    bus.store.index.catch_up()  # type: ignore[union-attr]
    ctx.log(f"  {name}: {events} events, {tasks} tasks in {time.perf_counter() - t0:.1f} s")
    return repo


def _bus(ctx: Ctx, name: str, events: int, tasks: int) -> Any:
    from repobus.bus import open_bus

    return open_bus(upgraded_bus(ctx, name, events, tasks))


def _size_rows(ctx: Ctx) -> list[Row]:
    import anyio

    from repobus.mcp import server

    bus = _bus(ctx, "reads-2k", 50_000, 2_000)
    srv = server.build(bus, agent="bench")
    rows = []
    for tool in ("status", "report"):

        async def call(tool: str = tool) -> Any:
            return await srv.call_tool(tool, {})

        text = anyio.run(call).content[0].text
        tokens = len(text) / 4
        rows.append(
            Row(
                key=f"reads_mcp_{tool}_tokens",
                metric=f"MCP {tool}, default arguments, 2k claims / 50k events",
                unit="tokens",
                value=tokens,
                ratio=tokens / TOKENS_MAX,
                target=f"<= {TOKENS_MAX} tokens",
                target_max=1.0,
                note=f"{len(text)} characters",
            ).judge()
        )
    return rows


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _latency_rows(ctx: Ctx) -> list[Row]:
    import anyio

    from repobus.mcp import server
    from repobus.web import data

    size = 50_000 if ctx.quick else 1_000_000
    bus = _bus(ctx, "reads-big", size, 10_000)
    srv = server.build(bus, agent="bench")
    newest = bus.store.tail("events", limit=1)[0].record
    task, agent = "T-10000", str(newest["agent_id"])

    def history() -> None:
        anyio.run(srv.call_tool, "task_history", {"task": task})

    def stream(**q: str) -> Callable[[], object]:
        return lambda: data.stream(bus, data.Filters.parse(q))

    def scan() -> object:  # what the task page and the filters did before: read every event
        return [e for e in bus.store.tail("events") if e.record.get("task_id") == task]

    reads: dict[str, Callable[[], object]] = {
        "MCP task_history": history,
        "dashboard task page": lambda: data.task(bus, task),
        "dashboard filter by agent": stream(agent=agent),
        "dashboard filter by event": stream(event="audit"),
        "dashboard filter by task": stream(task=task),
    }
    floor = statistics.median(_time(scan, 2))
    label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
    rows = []
    for name, fn in reads.items():
        fn()  # warm
        vals = _time(fn, 7 if ctx.quick else 11)
        med = statistics.median(vals)
        rows.append(
            Row(
                key="reads_" + name.replace(" ", "_"),
                metric=f"{name} at {label} events",
                unit="ms",
                value=med,
                value_p95=max(vals),
                reference="scan of every event (before)",
                ref_value=floor,
                ratio=med / floor,
                target=f"<= {LATENCY_MS:g} ms",
                passed=med <= LATENCY_MS,
                n=len(vals),
            )
        )
    return rows


def bench_reads(ctx: Ctx) -> list[Row]:
    return _size_rows(ctx) + _latency_rows(ctx)


if __name__ == "__main__":  # a quick look without the whole harness
    import sys
    import tempfile

    from benchmarks._common import isolated_env
    from benchmarks.bench import QUICK, _console_script, render

    root = Path(tempfile.mkdtemp(prefix="repobus-reads-"))
    c = Ctx(
        root=root,
        env=isolated_env(root / "home"),
        sizes=QUICK,
        quick="--quick" in sys.argv,
        exe=_console_script(),
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    print(render(bench_reads(c)))
