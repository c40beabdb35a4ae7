"""`repobus status --json` gives the same bytes whichever path answers it: the SQL index read
right after a write, the status snapshot (in the full command, then on the lean path) once
the bus is quiet, and the Python view with the index turned off (`repobus.index=false`).
Every path takes the lease fields from the one lease rule (records/lease.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from conftest import git, run_console

from repobus.store import snapshot

_LEFT = re.compile(rb'"lease_seconds_left":([1-9][0-9]*)')
_WINDOW = re.compile(rb'"finished_since":"[0-9T:Z-]+"')
_CURSOR = re.compile(rb'"next_cursor":"[0-9]+\.')


def status(cwd: Path, *args: str) -> tuple[bytes, bool]:
    """The exact stdout of `repobus status --json ARGS` as a console process, and whether
    the lean path answered (the full command imports the command table; the lean path
    does not)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "repobus", "status", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    err = res.stderr.decode("utf-8", "replace")
    return res.stdout, "repobus.cli.commands" not in err and "repobus.cli.lean" in err


def masked(out: bytes) -> tuple[bytes, list[int]]:
    """The output with the running lease's seconds left taken out (the clock moves between
    two processes), and those seconds."""
    # the default window ends now: two processes a second apart start it a second apart
    out = _CURSOR.sub(b'"next_cursor":"W.', _WINDOW.sub(b'"finished_since":W', out))
    return _LEFT.sub(b'"lease_seconds_left":N', out), [int(n) for n in _LEFT.findall(out)]


def _every_kind(repo: Path) -> None:
    from repobus.bus import open_bus, with_config

    init = run_console("init", "--agent", "a1", cwd=repo)
    assert init.returncode == 0, init.stderr
    git(repo, "config", "repobus.leaseGrace", "1h")
    bus = open_bus(repo)
    now = bus.clock()
    past = with_config(bus)
    bus.claim("a1", "T-active", ttl=3600)
    past.clock = lambda: now - 100  # type: ignore[method-assign]
    past.claim("a2", "T-grace", ttl=10)  # ended 90 s ago: in its grace hour
    past.clock = lambda: now - 7200  # type: ignore[method-assign]
    past.claim("a2", "T-expired", ttl=10)
    bus.claim("a1", "T-paused")
    with_config(bus, pause_silence=0).pause("a3", "T-paused", notes="crashed \u00e9")
    bus.claim("a2", "T-done")
    bus.release("a2", "T-done")
    past.clock = lambda: now - 3 * 86400  # type: ignore[method-assign]
    for task in ("T-old-1", "T-old-2"):  # finished days ago: outside the default window
        past.claim("a3", task)
        past.release("a3", task)
    bus.log("a1", "status", "keys that sort before _index", task="T-active", extra={"Zed": 1})
    for i in range(4):
        bus.log(f"a{1 + i % 2}", "note", f"step {i} \u2028 \u00e9")


def test_status_json_is_the_same_bytes_on_every_path(repo: Path) -> None:
    _every_kind(repo)
    path = Path(snapshot.path_in(str(repo / ".git")))
    at_once, lean = status(repo)  # right after the writes: the SQL index answers
    assert not lean and not path.exists()
    time.sleep(0.7)  # the ref directories age past the index's trust window
    quiet, lean = status(repo)  # the full command writes the snapshot and answers from it
    assert not lean and snapshot.sig_of(path.read_bytes())
    polled, lean = status(repo)
    assert lean, "the lean path did not answer on a quiet bus"
    git(repo, "config", "repobus.index", "false")
    plain, lean = status(repo)
    assert not lean
    docs = [masked(out) for out in (at_once, quiet, polled, plain)]
    assert [d[0] for d in docs] == [docs[0][0]] * 4, "the paths gave different bytes"
    for _, left in docs:  # only the running lease counts down
        assert len(left) == 1 and 3500 < left[0] <= 3600
    claims = {c["task_id"]: c for c in json.loads(plain)["claims"]}
    assert {t: (c["lease_state"], c["lease_seconds_left"]) for t, c in claims.items()} == {
        "T-active": ("active", docs[-1][1][0]),
        "T-done": ("done", None),
        "T-expired": ("expired", None),
        "T-grace": ("in_grace", 0),
        "T-paused": ("paused", None),
    }  # the claims finished days ago are left out, and counted
    assert json.loads(plain)["claims_left_out"] == 2 and "T-old-1" not in claims


def test_filtered_status_is_the_same_bytes_with_and_without_the_index(repo: Path) -> None:
    _every_kind(repo)
    asks = (
        ("--agent", "a2"),
        ("--active-only", "--limit", "2"),
        ("--since", "2000-01-01T00:00:00Z"),
        ("--all",),
        ("--all", "--page-size", "2"),
        ("--all", "--page-size", "2", "--cursor", _cursor("all", "T-done")),
        ("--page-size", "2", "--agent", "a3", "--all"),
    )
    indexed = [masked(status(repo, *args)[0])[0] for args in asks]
    time.sleep(0.7)  # quiet: the snapshot answers what it can (--all, --cursor, --page-size)
    quiet = [masked(status(repo, *args)[0])[0] for args in asks]
    git(repo, "config", "repobus.index", "false")
    assert [masked(status(repo, *args)[0])[0] for args in asks] == indexed == quiet


def _cursor(start: str, task: str) -> str:
    return f"{start}.{task.encode().hex()}"


def test_paging_shows_every_claim_once_on_every_path(repo: Path) -> None:
    """Pages of two, on the SQL index, the snapshot (lean path included) and the Python view:
    the same bytes, and together every claim exactly once."""
    _every_kind(repo)
    tasks = {"T-active", "T-grace", "T-expired", "T-paused", "T-done", "T-old-1", "T-old-2"}
    for setting in ("true", "quiet", "false"):
        if setting == "quiet":
            time.sleep(0.7)
        else:
            git(repo, "config", "repobus.index", setting)
        for extra, want in (((), tasks - {"T-old-1", "T-old-2"}), (("--all",), tasks)):
            seen: list[str] = []
            cursor: list[str] = []
            for _ in range(10):
                doc = json.loads(status(repo, "--page-size", "2", *extra, *cursor)[0])
                seen += [c["task_id"] for c in doc["claims"]]
                assert doc["claims_left_out"] == len(tasks - want)
                if doc["next_cursor"] is None:
                    break
                cursor = ["--cursor", doc["next_cursor"]]
            assert sorted(seen) == sorted(want) and len(seen) == len(want), (setting, extra)
