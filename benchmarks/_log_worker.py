"""One logging agent of the remote load test: `python _log_worker.py CLONE AGENT SECONDS [bare]`.

With `bare`, the reference instead: each event is one `git commit-tree` (the empty tree, the
previous event as parent) and one `git push origin <oid>:refs/bare/<AGENT>` - a bare commit
and push per event, the floor a bus that pushes every event by itself would stand on.

Prints `ready` once repobus is imported and the bus is open, waits for a `go` line on stdin,
then calls `bus.log(AGENT, "status", f"{AGENT}-{n}")` for n = 0, 1, ... until SECONDS have
passed, and prints one line:

    done CALLS ERRORS ELAPSED P50_MS P95_MS FAILED [first error]

and, on stderr, one line `stats {json}`: what the calls cost this process - git processes
started (by subcommand), CPU seconds of the process and of its children (git), seconds
inside each git subcommand (`wall_<name>`), and seconds spent waiting for the clone's push
turn (store/files.py `locked_within` on `push-all.lock`: for a push in flight to end, and
for the turn).

Every call that returned acknowledged its event: the events n in range(CALLS) except the
FAILED ones (comma-separated n, or `-`) must all reach the remote.  A failed call's event
may or may not have been written; summaries stay unique either way.
"""

from __future__ import annotations

import json
import math
import resource
import sys
import time
from collections import Counter
from contextlib import contextmanager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator


def _spy() -> tuple[Counter[str], list[float]]:
    """Count the git processes started (every subprocess call goes through Popen) and time
    the waits for the push turn (files.locked_within on push-all.lock, when repobus is
    importable)."""
    import subprocess

    gits: Counter[str] = Counter()
    waits: list[float] = [0.0, 0.0]  # seconds waited, turns taken
    real = subprocess.Popen.__init__

    def counted(self: object, *args: object, **kw: object) -> None:
        argv = args[0] if args else kw.get("args")
        if isinstance(argv, (list, tuple)) and argv and argv[0] == "git":
            gits[_subcommand([str(a) for a in argv[1:]])] += 1
        real(self, *args, **kw)  # type: ignore[arg-type]

    subprocess.Popen.__init__ = counted  # type: ignore[method-assign]
    try:
        from repobus.store import files
    except ImportError:  # the bare reference runs without repobus on the path
        return gits, waits
    inner = files.locked_within

    @contextmanager
    def timed(path: object, wait: float, shared: bool = False) -> Iterator[bool]:
        t0 = time.perf_counter()
        with inner(path, wait, shared) as got:  # type: ignore[arg-type]
            if getattr(path, "name", "") == "push-all.lock":  # the push turn, not the fetch's
                waits[0] += time.perf_counter() - t0
                waits[1] += 1
            yield got

    files.locked_within = timed  # type: ignore[assignment]
    from repobus.git import gitcmd

    run = gitcmd.run

    def walled(cwd: object, *args: str, **kw: object) -> object:
        t0 = time.perf_counter()
        try:
            return run(cwd, *args, **kw)  # type: ignore[arg-type]
        finally:
            key = f"wall_{_subcommand(list(args))}"
            WALL[key] = WALL.get(key, 0.0) + time.perf_counter() - t0

    gitcmd.run = walled  # type: ignore[assignment]
    return gits, waits


WALL: dict[str, float] = {}  # seconds inside each git subcommand (repobus runs)


def _subcommand(args: list[str]) -> str:
    """`push` of `git -c NAME=VALUE push ...`."""
    while args[:1] == ["-c"]:
        args = args[2:]
    return next((a for a in args if not a.startswith("-")), "?")


def _cpu(who: int) -> float:
    use = resource.getrusage(who)
    return use.ru_utime + use.ru_stime


def _bare_logger(clone: str, agent: str) -> object:
    """An object with a `log(agent, event, summary)` that commits and pushes by plain git."""
    import subprocess

    empty_tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # run as a script: no package

    class Bare:
        parent: str | None = None

        def log(self, who: str, event: str, summary: str) -> None:
            args = ["git", "commit-tree", empty_tree, "-m", f"{event} {summary}"]
            if self.parent:
                args += ["-p", self.parent]
            oid = subprocess.run(args, cwd=clone, capture_output=True, check=True).stdout
            new = oid.decode().strip()
            subprocess.run(["git", "push", "-q", "origin", f"{new}:refs/bare/{who}"],
                           cwd=clone, capture_output=True, check=True)
            self.parent = new

    return Bare()


def main() -> int:
    clone, agent, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    gits, waits = _spy()
    if sys.argv[4:] == ["bare"]:
        bus = _bare_logger(clone, agent)
    else:
        from repobus.bus import open_bus

        bus = open_bus(clone)
    out = sys.stdout
    out.write("ready\n")
    out.flush()
    got = sys.stdin.readline().strip()
    if got != "go":
        sys.stderr.write(f"no go: {got!r}\n")
        return 0
    n = 0
    failed: list[int] = []
    first = ""
    lat: list[float] = []
    gits.clear()
    WALL.clear()
    waits[:] = [0.0, 0.0]
    cpu0 = (_cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN))
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        t1 = time.perf_counter()
        try:
            bus.log(agent, "status", f"{agent}-{n}")  # type: ignore[attr-defined]
        except Exception as exc:  # reported to the parent
            failed.append(n)
            if not first:
                first = f"{type(exc).__name__}: {exc}".replace("\n", " ")[:300]
        else:
            lat.append(time.perf_counter() - t1)
        n += 1
    elapsed = time.perf_counter() - t0
    stats = {"git": dict(gits), "cpu_self": _cpu(resource.RUSAGE_SELF) - cpu0[0],
             "cpu_git": _cpu(resource.RUSAGE_CHILDREN) - cpu0[1], "lock_wait": waits[0],
             "lock_turns": waits[1], "calls": n, **WALL}
    sys.stderr.write(f"stats {json.dumps(stats)}\n")
    sys.stderr.flush()
    lat.sort()
    p50 = lat[len(lat) // 2] * 1000 if lat else float("nan")
    p95 = (lat[min(len(lat) - 1, max(0, math.ceil(0.95 * len(lat)) - 1))] * 1000 if lat
           else float("nan"))
    fails = ",".join(map(str, failed)) or "-"
    out.write(f"done {n} {len(failed)} {elapsed:.3f} {p50:.2f} {p95:.2f} {fails} {first}\n")
    out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
