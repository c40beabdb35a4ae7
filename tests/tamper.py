"""Ways to tamper with a git chain (rewrite its commits), and what verify must say of each:
shared by the verify tests and the reliability suite's tampering part."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import git

from repobus.bus import open_bus

Msgs = list[bytes]


def _seed(repo: Path, n: int = 5) -> None:
    bus = open_bus(repo)
    for i in range(n):
        bus.log("a1", "status", f"event {i + 1}")


def rewrite_git_chain(repo: Path, ref: str, change: Callable[[Msgs], Msgs]) -> None:
    """Rebuild `ref` with edited messages, keeping each commit's other fields."""
    oids = git(repo, "rev-list", "--reverse", ref).split()
    msgs = [
        subprocess.run(
            ["git", "log", "-1", "--format=%B", o], cwd=repo, check=True, capture_output=True
        ).stdout.rstrip(b"\n")
        + b"\n"
        for o in oids
    ]
    parent = None
    for msg in change(msgs):
        args = ["git", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"]
        if parent:
            args += ["-p", parent]
        parent = (
            subprocess.run(args, cwd=repo, input=msg, check=True, capture_output=True)
            .stdout.decode()
            .strip()
        )
    git(repo, "update-ref", ref, parent or "")


def _edit(msgs: Msgs) -> Msgs:
    rec = json.loads(msgs[2])
    rec["summary"] = "rewritten history"
    return (
        msgs[:2]
        + [json.dumps(rec, sort_keys=True, separators=(",", ":")).encode() + b"\n"]
        + msgs[3:]
    )


CASES: dict[str, tuple[Callable[[Msgs], Msgs], str]] = {
    "edited": (_edit, "seq 3 .* was edited"),
    "dropped": (lambda m: m[:1] + m[2:], "seq 2 dropped"),
    "reordered": (lambda m: [m[0], m[2], m[1], *m[3:]], "reordered"),
    "first dropped": (lambda m: m[1:], "first records were dropped"),
}
