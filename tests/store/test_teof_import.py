"""The TEOF `_bus/` (written by the original tools) imported into the git backend: every claim,
assignment, event and message kept (parsed JSON equal on its original fields), `verify` clean,
and a later hand edit of the tracked copy named by `verify` (file and line)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

TEOF = Path(__file__).resolve().parents[3] / "shared" / "data" / "teof-bus" / "_bus"
pytestmark = pytest.mark.skipif(not TEOF.is_dir(), reason=f"no TEOF bus at {TEOF}")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _originals(base: Path) -> list[dict[str, object]]:
    out = [
        json.loads(p.read_text())
        for k in ("claims", "assignments")
        for p in base.glob(f"{k}/*.json")
    ]
    for p in [base / "events" / "events.jsonl", *sorted(base.glob("messages/*.jsonl"))]:
        out += [json.loads(ln) for ln in p.read_text().splitlines() if ln.strip()]
    return out


def test_teof_bus_is_imported_whole_and_anchored(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(TEOF, repo / "_bus")
    _git(repo, "add", "_bus")
    _git(repo, "commit", "-q", "-m", "the bus")
    res = cli("init", "--no-remote", "--agent", "codex-9", cwd=repo)
    assert res.code == 0, res
    assert "imported 103 claims, 51 assignments, 231 events" in res.out
    assert "importing" in res.err  # the progress line
    again = cli("import", cwd=repo)
    assert again.code == 0 and "imported 0 claims, 0 assignments, 0 events, 0 messages" in again.out

    from repobus.bus import open_bus

    store = open_bus(repo).store
    kept = [s.record for k in ("claims", "assignments") for s in store.list(k)]
    kept += [e.record for k in ("events", "messages") for e in store.tail(k)]
    events = [e for e in store.tail("events") if "imported" in e.record]
    assert len(events) == 231
    for orig in _originals(TEOF):
        assert any(all(r.get(k) == v for k, v in orig.items()) for r in kept), orig
    assert cli("verify", cwd=repo).code == 0
    assert cli("inbox", "--agent", "manager", cwd=repo).out.count("total=1") == 1

    # The tracked _bus/ stays the team's copy: a hand edit of an imported line is named.
    log = repo / "_bus" / "events" / "events.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[99] = lines[99].replace('"summary": "', '"summary": "EDITED ', 1)
    log.write_text("".join(lines))
    bad = cli("verify", cwd=repo)
    assert bad.code == 1
    assert "_bus/events/events.jsonl: line 100: anchored line 100 of 231 was edited" in bad.err
    refused = cli("import", cwd=repo)
    assert refused.code == 1 and "line 100" in refused.err
