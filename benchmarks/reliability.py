"""repobus reliability runner: races, linearizability, crashes, tampering, fencing, bad input,
full disk and doctor - the parts of tests/reliability/, with trial counts you choose - printed
as a table of trials, failures and what was checked, and written as JSON.

    python -m benchmarks.reliability [--long] [--only races,crashes] [--out FILE]

The short run uses the CI sizes of the test suite (a few minutes on 2 cores); --long the
issue's sizes (300 race rounds, 200 histories, 500 crashes, >= 5,000 generated inputs).
Everything happens in a temporary directory with an isolated git config; every process is
stopped by its PID.  Exit status: 0 no failure, 1 a failure, 2 the runner itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "reliability"), str(ROOT / "tests")]

# part -> (short size, long size); a size is passed to the part's run() as trial count.
SIZES: dict[str, tuple[int, int]] = {
    "races": (12, 300),
    "linearizability": (20, 200),
    "linearizability: clones": (10, 100),
    "broken lock": (60, 60),
    "crashes": (30, 500),
    "tampering": (1, 1),
    "fencing": (12, 100),
    "bad input: argv": (250, 3500),
    "bad input: stored files": (150, 1500),
    "full disk": (1, 3),
    "doctor": (1, 1),
}


def _parts(long: bool) -> dict[str, Callable[[Path, int], Any]]:
    import rel_fuzz as bad
    import test_rel_crash as crash
    import test_rel_doctor as doctor
    import test_rel_fencing as fencing
    import test_rel_full_disk as disk
    import test_rel_linearizability as lin
    import test_rel_races as races
    import test_rel_tamper as tamper

    rnd = not long
    return {
        "races": lambda d, n: races.run(d, rounds=n),
        "linearizability": lambda d, n: lin.run(d, histories=n, seed=20 if long else 2),
        "linearizability: clones": lambda d, n: lin.run(
            d, histories=n, seed=21 if long else 3, clones=True
        ),
        "broken lock": lambda d, n: lin.run(d, histories=n, unsafe=True, stop_at_first=True),
        "crashes": lambda d, n: crash.run(d, trials=n, seed=30 if long else 3),
        "tampering": lambda d, n: tamper.run(d),
        "fencing": lambda d, n: fencing.run(d, interleavings=n, seed=50 if long else 5),
        "bad input: argv": lambda d, n: bad.fuzz_command_lines(d, n, derandomize=rnd),
        "bad input: stored files": lambda d, n: bad.fuzz_stored_files(d, n, derandomize=rnd),
        "full disk": lambda d, n: disk.run(d, cycles=n),
        "doctor": lambda d, n: doctor.run(d),
    }


def run_part(name: str, fn: Callable[[Path, int], Any], work: Path, size: int) -> dict[str, Any]:
    from rel_lab import Outcome

    start = time.monotonic()
    try:
        out = fn(work, size)
    except Exception as exc:  # a part that crashed is a failure of that part, not the run
        out = Outcome(name, "the part itself raised")
        out.fail(f"{exc!r}\n{traceback.format_exc()[-1500:]}")
    out.seconds = time.monotonic() - start
    row = out.as_dict()
    row["part"] = name
    if name == "broken lock":  # the checker must flag the broken lock: that is the pass
        row["expected"] = "flagged >= 1"
        row["ok"] = out.failures >= 1
    else:
        row["ok"] = out.failures == 0 and not any(k.startswith("skipped") for k in out.counters)
    return row


def _machine() -> dict[str, Any]:
    git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return {
        "git": git,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load": list(os.getloadavg()),
    }


# Counters worth a line under the table (the rest are in the JSON).
# fmt: off
NOTES = ("known bug", "skipped", "loser answers", "winner's", "lock files", "lock left",
         "locks removed", "locks left", "trials that", "full: exit 70", "incoming refs",
         "consistent", "superseded", "temporary", "unknown", "failed writes", "fetch quar")
# fmt: on


def render(rows: list[dict[str, Any]], long: bool) -> str:
    head = f"{'part':<24} {'trials':>7} {'fail':>5} {'result':<8} {'secs':>6}  checked"
    lines = [f"repobus reliability ({'long' if long else 'short'} run)", head, "-" * len(head)]
    for r in rows:
        skipped = next((k for k in r["counters"] if k.startswith("skipped")), None)
        result = "SKIPPED" if skipped else ("ok" if r["ok"] else "FAILED")
        fails = f"{r['failures']}" + ("*" if r.get("expected") else "")
        lines.append(
            f"{r['part']:<24} {r['trials']:>7} {fails:>5} {result:<8} "
            f"{r['seconds']:>6.1f}  {r['checked']}"
        )
    lines.append("* broken lock: failures = histories the checker flagged (it must flag >= 1)")
    notes = [
        (r["part"], k, v)
        for r in rows
        for k, v in sorted(r["counters"].items())
        if k.startswith(NOTES) and v
    ]
    if notes:
        lines.append("")
        lines.append("notes (counters):")
        lines += [f"  {part}: {k}: {v}" for part, k, v in notes]
    for r in rows:
        what = "first flagged history" if r.get("expected") else "failure"
        for d in r["details"][: 1 if r.get("expected") else 2]:
            lines.append(f"\n{r['part']}, {what}:\n  " + d[:1200].replace("\n", "\n  "))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.reliability", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--long", action="store_true", help="the issue's trial counts")
    ap.add_argument("--only", help=f"comma-separated parts: {', '.join(SIZES)}")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "reliability.json"))
    args = ap.parse_args(argv)
    wanted = [p.strip() for p in args.only.split(",")] if args.only else list(SIZES)
    unknown = [p for p in wanted if p not in SIZES]
    if unknown:
        ap.error(f"unknown part(s): {', '.join(unknown)}")
    work = Path(tempfile.mkdtemp(prefix="repobus-reliability-"))
    try:
        from rel_lab import isolate

        isolate(work / "home")
        parts = _parts(args.long)
        rows = []
        for name in wanted:
            size = SIZES[name][1 if args.long else 0]
            print(f"running {name} ({size}) ...", file=sys.stderr, flush=True)
            rows.append(
                run_part(name, parts[name], work / name.replace(" ", "-").replace(":", ""), size)
            )
        print(render(rows, args.long))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"long": args.long, "machine": _machine(), "parts": rows}, indent=2) + "\n",
            encoding="utf-8",
        )
        print(f"\nwrote {out}", file=sys.stderr)
        return 0 if all(r["ok"] for r in rows) else 1
    except KeyboardInterrupt:
        return 2
    except Exception:  # the runner itself failed
        traceback.print_exc()
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
