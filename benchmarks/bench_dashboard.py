"""Section `dashboard` (issue 17, items 4 and 6): the web dashboard over real HTTP.

`repobus serve --port 0 --json` runs as a subprocess (stopped by its PID) on buses built by
`benchmarks.gen` (10,000 tasks, 200 agents; finished claims archived, the index warm):
- time to first byte of the task page and of the events page - filtered by agent, by event
  name, by task, unfiltered, and its second ("older") page - at SIZES events (1M; `--quick`:
  50k) and at a small bus, against the floor: a 404 of the same server (HTTP and routing, no
  bus read), timed interleaved in the same run.  Target: <= 100 ms at the largest size.
- live updates: on a bus of 2,000 claims, WRITERS processes write WRITE_RATE times a second
  in all (events and new claims) while one SSE client listens; a write's latency is from the
  moment it returned to the arrival of the first `change` message the server sent after
  noticing it (the message carries when).  Target: p95 <= 300 ms.  The overview's time to
  first byte on that bus is shown for information.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks._common import p95, terminate
from benchmarks.bench import Ctx, Row
from benchmarks.bench_reads import upgraded_bus

TTFB_MS = 100.0
LATENCY_P95_MS = 300.0
WRITE_RATE = 20.0
WRITERS = 4
HERE = Path(__file__).resolve().parent


@contextmanager
def _server(ctx: Ctx, repo: Path) -> Iterator[tuple[str, int]]:
    proc = subprocess.Popen(
        [ctx.exe, "serve", "--port", "0", "--json"],
        cwd=repo, env=ctx.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        yield str(info["host"]), int(info["port"])
    finally:
        terminate(proc)


def _ttfb(addr: tuple[str, int], path: str) -> tuple[float, bytes]:
    """Milliseconds from sending the request to the first byte of the answer, and the
    answer (read to its end)."""
    with socket.create_connection(addr, timeout=60) as s:
        head = f"GET {path} HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\nConnection: close\r\n\r\n"
        t0 = time.perf_counter()
        s.sendall(head.encode())
        first = s.recv(65536)
        ms = (time.perf_counter() - t0) * 1000
        chunks = [first]
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return ms, b"".join(chunks)


def _paths(repo: Path, addr: tuple[str, int]) -> dict[str, str]:
    from repobus.bus import open_bus

    bus = open_bus(repo)
    newest = bus.store.tail("events", limit=1)[0].record
    task, agent = "T-10000", str(newest["agent_id"])
    _, page = _ttfb(addr, "/events")
    cursor = page.split(b"cursor=", 1)[1].split(b'"', 1)[0].decode() if b"cursor=" in page else ""
    return {
        "task page": f"/task/{task}",
        "events by agent": f"/events?agent={agent}",
        "events by event": "/events?event=audit",
        "events by task": f"/events?task={task}",
        "events, first page": "/events",
        "events, older page": f"/events?cursor={cursor}",
    }


def _ttfb_rows(ctx: Ctx) -> list[Row]:
    sizes = (2_000, 50_000) if ctx.quick else (10_000, 1_000_000)
    runs = 7 if ctx.quick else 15
    medians: dict[tuple[str, int], float] = {}
    rows: list[Row] = []
    for size in sizes:
        repo = upgraded_bus(ctx, f"dash-{size}", size, 10_000)
        with _server(ctx, repo) as addr:
            paths = _paths(repo, addr)
            floor: list[float] = []
            got: dict[str, list[float]] = {k: [] for k in paths}
            for path in paths.values():  # warm: the index pages are read once
                _ttfb(addr, path)
            for _ in range(runs):  # interleaved with the floor
                for name, path in paths.items():
                    floor.append(_ttfb(addr, "/no-such-page")[0])
                    got[name].append(_ttfb(addr, path)[0])
        ref = statistics.median(floor)
        label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
        for name, vals in got.items():
            med = statistics.median(vals)
            medians[(name, size)] = med
            big = size == sizes[-1]
            small = medians.get((name, sizes[0]))
            note = f"{med / small:.2f}x the {sizes[0] // 1000}k bus" if big and small else ""
            rows.append(Row(
                key=f"dashboard_ttfb_{name.replace(' ', '_').replace(',', '')}_{label}",
                metric=f"dashboard {name}, first byte, {label} events", unit="ms",
                value=med, value_p95=p95(vals), reference="404 of the same server",
                ref_value=ref, ratio=med / ref, target=f"<= {TTFB_MS:g} ms" if big else "info",
                passed=(med <= TTFB_MS) if big else None, n=len(vals), note=note))
    return rows


class _Listener:
    """One SSE client on a thread: each `change` message's arrival and noticed time."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.sock = socket.create_connection(addr, timeout=5)
        head = f"GET /sse HTTP/1.1\r\nHost: {addr[0]}:{addr[1]}\r\n\r\n"
        self.sock.sendall(head.encode())
        self.got: list[tuple[float, float]] = []  # (arrived, noticed)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        buf = b""
        while not self.stop.is_set():
            try:
                chunk = self.sock.recv(65536)
            except (TimeoutError, OSError):
                continue
            if not chunk:
                return
            arrived = time.time()
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                if line.startswith(b"data: {\"kinds\""):
                    self.got.append((arrived, float(json.loads(line[6:])["at"])))

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self.thread.join(10)


def _writers(ctx: Ctx, repo: Path, seconds: float) -> list[subprocess.Popen[str]]:
    procs = []
    for i in range(WRITERS):
        argv = [sys.executable, str(HERE / "_web_writer.py"), str(repo), f"writer-{i}",
                str(WRITE_RATE / WRITERS), str(seconds)]
        procs.append(subprocess.Popen(argv, cwd=repo, env=ctx.env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True))
        ctx.procs.append(procs[-1])  # type: ignore[arg-type]
    for p in procs:
        assert p.stdout and p.stdout.readline().strip() == "ready"
    return procs


def _latencies(done: list[float], got: list[tuple[float, float]]) -> list[float]:
    """For each write: ms from its return to the first message noticed after it."""
    out = []
    for t in sorted(done):
        first = next((arrived for arrived, noticed in got if noticed >= t), None)
        if first is not None:
            out.append((first - t) * 1000)
    return out


def _live_rows(ctx: Ctx) -> list[Row]:
    seconds = 5.0 if ctx.quick else 15.0
    repo = upgraded_bus(ctx, "dash-live", 20_000, 2_000)
    with _server(ctx, repo) as addr:
        overview = [_ttfb(addr, "/")[0] for _ in range(3 if ctx.quick else 7)]
        listener = _Listener(addr)
        procs = _writers(ctx, repo, seconds)
        for p in procs:
            assert p.stdin
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs if p.stdout]
        for p in procs:
            p.wait(30)
        time.sleep(1.0)  # the last write's message is on its way (POLL is 0.1 s)
        listener.close()
    done = [t for r in results for t in r["done"]]
    errors = [e for r in results for e in r["errors"]]
    lat = _latencies(done, listener.got)
    missed = len(done) - len(lat)
    note = (f"{len(done)} writes by {WRITERS} processes in {seconds:g} s, "
            f"{len(listener.got)} change messages, {missed} writes never announced, "
            f"{len(errors)} errors{': ' + errors[0] if errors else ''}")
    return [
        Row(key="dashboard_live_p95", metric="live update, write to SSE message, 2k claims",
            unit="ms", value=statistics.median(lat) if lat else float("nan"),
            value_p95=p95(lat) if lat else None, target=f"p95 <= {LATENCY_P95_MS:g} ms",
            passed=bool(lat) and p95(lat) <= LATENCY_P95_MS and missed == 0 and not errors,
            n=len(lat), note=note),
        Row(key="dashboard_overview_ttfb_2k", metric="dashboard overview, first byte, 2k claims",
            unit="ms", value=statistics.median(overview), value_p95=max(overview),
            target="info", n=len(overview)),
    ]


def bench_dashboard(ctx: Ctx) -> list[Row]:
    return _ttfb_rows(ctx) + _live_rows(ctx)


Runner = Callable[[Ctx], list[Row]]

if __name__ == "__main__":  # a quick look without the whole harness
    import shutil
    import tempfile

    from benchmarks._common import isolated_env
    from benchmarks.bench import QUICK, _console_script, render

    root = Path(tempfile.mkdtemp(prefix="repobus-dash-"))
    c = Ctx(root=root, env=isolated_env(root / "home"), sizes=QUICK,
            quick="--quick" in sys.argv, exe=_console_script(),
            log=lambda m: print(m, file=sys.stderr, flush=True))
    wanted: dict[str, Runner] = {"ttfb": _ttfb_rows, "live": _live_rows}
    picked = [a for a in sys.argv[1:] if a in wanted] or list(wanted)
    try:
        print(render([r for name in picked for r in wanted[name](c)]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
