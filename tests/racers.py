"""Long-lived worker processes the suite's race tests share: race_worker.py racers released
together by writing one command line to all of them, and op_worker.py writers."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path

WORKER = str(Path(__file__).with_name("race_worker.py"))
OP_WORKER = str(Path(__file__).with_name("op_worker.py"))


def op_workers(repo: Path, n: int) -> list[subprocess.Popen[str]]:
    """`n` op_worker.py processes on `repo`, each ready for JSON operations on its stdin."""
    procs = [
        subprocess.Popen(
            [sys.executable, OP_WORKER, str(repo)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return procs


class Racers:
    """Long-lived worker processes; commands are written to all of them back to back."""

    def __init__(self, places: list[tuple[Path, str]]) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, WORKER, str(wt), agent],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            for wt, agent in places
        ]
        for p in self.procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"

    def all(self, line: str) -> list[str]:
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write(line + "\n")
            p.stdin.flush()
        return [p.stdout.readline().strip() for p in self.procs]  # type: ignore[union-attr]

    def one(self, i: int, line: str) -> str:
        p = self.procs[i]
        p.stdin.write(line + "\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
        return p.stdout.readline().strip()  # type: ignore[union-attr]

    def close(self) -> None:
        for p in self.procs:
            with contextlib.suppress(OSError):
                p.stdin.close()  # type: ignore[union-attr]
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            p.stdout.close()  # type: ignore[union-attr]
