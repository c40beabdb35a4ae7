"""The bus keeps its loose objects packed: 20,000 events (`--quick`: 4,000) appended in-process
by 4 agents to two repositories side by side, interleaved (alternating which goes first) -
one with the bus's packing on (the default, `gc.auto` = 6,700 set in the repository as git's
default), one with it off (`repobus.packThreshold=0`, as repobus was before).  Both start
with 2,000 commits of history of their own in one pack, as a team's repository would.

    python -m benchmarks.bench_housekeeping [--quick] [--events N] [--out FILE]

Rows: git's loose-object estimate (entries in objects/17 x 256, what `git gc --auto` judges)
and `git count-objects` after the run, for both repositories; the packs; whether a
`git gc --auto` afterwards finds anything to do (it must not, with packing on); the time per
write with packing against the time per write without it (info: the packing itself lands on
the few writes that pack, shown in their own row; the bus's packs add ~13 us each to every git
process's object lookup, so the ratio of medians sits a few percent above 1), and `verify`.
Everything happens in a temporary directory with an isolated git config (benchmarks/_common);
exit status 0 every target met, 1 a target missed, 2 the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks._common import git, isolated_env, median, p95
from benchmarks.bench import Row, _latency_row, _loadavg, render

HERE = Path(__file__).resolve().parent
GC_AUTO = 6700
AGENTS = 4
USER_COMMITS = 2000


def _repo(root: Path, name: str, env: dict[str, str], packing: bool) -> Path:
    """A repository with some history of its own, packed, as a team's repository has."""
    path = root / name
    git(root, "init", "-q", "-b", "main", str(path), env=env)
    history = b"".join(
        b"commit refs/heads/main\ncommitter u <u@example.invalid> %d +0000\ndata 2\nc\n"
        b"M 644 inline f%d\ndata 12\nline %06d\n\n" % (1_600_000_000 + i, i % 50, i)
        for i in range(USER_COMMITS)
    )
    git(path, "fast-import", "--quiet", env=env, stdin=history)
    git(path, "repack", "-adq", env=env)
    git(path, "config", "gc.auto", str(GC_AUTO), env=env)  # git's default (the env sets 0)
    if not packing:
        git(path, "config", "repobus.packThreshold", "0", env=env)
    return path


def _counts(path: Path, env: dict[str, str]) -> dict[str, int]:
    from repobus.store import housekeeping

    out = git(path, "count-objects", "-v", env=env).stdout.decode()
    rows = dict(line.split(": ") for line in out.splitlines() if ": " in line)
    return {
        "estimate": housekeeping.sampled(path / ".git" / "objects") * 256,
        "loose": int(rows["count"]),
        "packs": int(rows["packs"]),
    }


class PackClock:
    """Times every `housekeeping.pack` call the writes make (the one place that packs)."""

    def __init__(self) -> None:
        from repobus.store import housekeeping

        self.module = housekeeping
        self.real = housekeeping.pack
        self.times: list[float] = []

    def __enter__(self) -> PackClock:
        def timed(repo: Any) -> bool:
            t0 = time.perf_counter()
            try:
                return bool(self.real(repo))
            finally:
                self.times.append(time.perf_counter() - t0)

        self.module.pack = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.pack = self.real  # type: ignore[assignment]


def _append(root: Path, env: dict[str, str], events: int, log: Any) -> dict[str, Any]:
    from repobus.bus import open_bus
    from repobus.store import housekeeping

    on, off = _repo(root, "packing", env, True), _repo(root, "no-packing", env, False)
    buses = {"on": open_bus(on), "off": open_bus(off)}
    times: dict[str, list[float]] = {"on": [], "off": []}
    worst = 0
    with PackClock() as clock:
        for i in range(events):
            agent = f"a{i % AGENTS}"
            for which in ("on", "off") if i % 2 == 0 else ("off", "on"):
                t0 = time.perf_counter()
                buses[which].log(agent, "status", f"{agent}-{i}")
                times[which].append(time.perf_counter() - t0)
            worst = max(worst, housekeeping.sampled(on / ".git" / "objects") * 256)
            if i and i % 5000 == 0:
                log(f"  {i} events")
    from repobus.checks import check

    problems = check.verify(buses["on"].store)
    return {"on": on, "off": off, "times": times, "packs": clock.times, "worst": worst,
            "problems": problems}


def _gc_auto_idle(path: Path, env: dict[str, str]) -> bool:
    """Whether `git gc --auto` finds nothing to do (no pack written, no loose object moved)."""
    before = (sorted(os.listdir(path / ".git" / "objects" / "pack")), _counts(path, env))
    git(path, "-c", "gc.autoDetach=false", "gc", "--auto", env=env)
    return (sorted(os.listdir(path / ".git" / "objects" / "pack")), _counts(path, env)) == before


def run(root: Path, env: dict[str, str], events: int, log: Any) -> list[Row]:
    got = _append(root, env, events, log)
    on, off = _counts(got["on"], env), _counts(got["off"], env)
    idle = _gc_auto_idle(got["on"], env)
    t_on, t_off = got["times"]["on"], got["times"]["off"]
    packs = got["packs"]
    under = on["estimate"] <= GC_AUTO and max(got["worst"], on["estimate"]) <= GC_AUTO
    return [
        Row(key="loose_on", metric=f"loose objects after {events} events, packing on",
            unit="count", value=on["estimate"], passed=under and idle,
            note=f"git's estimate {on['estimate']} (highest seen {got['worst']}), "
                 f"count-objects {on['loose']}; git gc --auto afterwards: "
                 + ("nothing to do" if idle else "RAN"),
            target=f"estimate <= gc.auto {GC_AUTO}, gc --auto idle", extra=on),
        Row(key="loose_off", metric=f"loose objects after {events} events, packing off",
            unit="count", value=off["estimate"],
            note=f"git's estimate {off['estimate']}, count-objects {off['loose']} "
                 f"(the user's next commit auto-packs past {GC_AUTO})", extra=off),
        Row(key="packs_on", metric="packs, packing on", unit="count", value=on["packs"],
            passed=on["packs"] < 50, note=f"{on['packs']} pack(s); {len(packs)} pack run(s)",
            target="< gc.autoPackLimit 50"),
        _latency_row("write_on", "time per write (bus.log), packing on", t_on,
                     "packing off", t_off, None,
                     note=f"mean {1000 * sum(t_on) / len(t_on):.2f} ms vs "
                          f"{1000 * sum(t_off) / len(t_off):.2f} ms off; max "
                          f"{1000 * max(t_on):.0f} ms vs {1000 * max(t_off):.0f} ms"),
        Row(key="pack_runs", metric="the writes that packed: pack time", unit="ms",
            value=1000 * median(packs) if packs else 0.0,
            value_p95=1000 * p95(packs) if packs else None, n=len(packs),
            note=f"{len(packs)} run(s), max {1000 * max(packs, default=0):.0f} ms, "
                 f"{1000 * sum(packs) / max(events, 1):.3f} ms per write on average"),
        Row(key="verify_on", metric="verify after the run, packing on", unit="count",
            value=len(got["problems"]), passed=not got["problems"],
            note="every chain intact" if not got["problems"] else str(got["problems"][:3]),
            target="no problem"),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_housekeeping",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="4,000 events")
    ap.add_argument("--events", type=int, help="events per repository (default 20,000)")
    ap.add_argument("--out", default=str(HERE / "results" / "housekeeping.json"))
    a = ap.parse_args(argv)
    events = a.events or (4000 if a.quick else 20_000)
    started = time.time()
    root = Path(tempfile.mkdtemp(prefix="repobus-bench-hk-"))
    env = isolated_env(root / "home")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # repobus in this process runs git with this environment too
    from repobus.git import gitcmd

    gitcmd._ENV = None
    failed: str | None = None
    rows: list[Row] = []
    load = _loadavg()
    try:
        rows = run(root, env, events, lambda m: print(m, file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        failed = "interrupted"
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        failed = f"{type(exc).__name__}: {exc}"
    finally:
        os.environ.clear()
        os.environ.update(saved)
        gitcmd._ENV = None
        shutil.rmtree(root, ignore_errors=True)
    print(render(rows))
    meta = {"events": events, "seconds": round(time.time() - started, 1),
            "cpus": os.cpu_count(), "loadavg_start": load, "loadavg_end": _loadavg(),
            "failed": failed}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows]}, indent=2,
                              sort_keys=True, default=str) + "\n", encoding="utf-8")
    print(f"\nwrote {out}  ({meta['seconds']} s; load average {load} -> {meta['loadavg_end']})")
    if failed:
        print(f"benchmark failed: {failed}", file=sys.stderr)
        return 2
    return 1 if any(r.passed is False for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
