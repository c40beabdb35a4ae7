"""Item 15: lines the original tools wrote (no seq, no prev_hash) are anchored by the first
record repobus appends after them; `verify` names an edited line 100, a dropped line 50 and
the seq shift it causes (dir backend), through one rule (records/anchor.py)."""

from __future__ import annotations

import json
from pathlib import Path

from repobus.records import anchor


def _legacy(repo: Path, n: int) -> Path:
    log = repo / "_bus" / "events" / "events.jsonl"
    log.parent.mkdir(parents=True)
    rows = [
        {
            "ts": f"2025-09-17T00:{i // 60:02d}:{i % 60:02d}Z",
            "agent_id": "codex-1",
            "event": "status",
            "summary": f"line {i + 1}",
        }
        for i in range(n)
    ]
    log.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    return log


def _dir_bus_with_anchor(dir_repo: Path, cli) -> Path:  # type: ignore[no-untyped-def]
    log = _legacy(dir_repo, 120)
    assert cli("init", "--backend", "dir", cwd=dir_repo).code == 0
    assert cli("log", "--event", "note", "--summary", "new", cwd=dir_repo, agent="a").code == 0
    last = json.loads(log.read_text().splitlines()[-1])
    assert last["seq"] == 121 and last["anchor"]["lines"] == 120
    assert cli("verify", cwd=dir_repo).code == 0
    return log


def test_edited_legacy_line_100_is_named(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    log = _dir_bus_with_anchor(dir_repo, cli)
    lines = log.read_text().splitlines(keepends=True)
    lines[99] = lines[99].replace("line 100", "line one hundred")
    log.write_text("".join(lines))
    res = cli("verify", cwd=dir_repo)
    assert res.code == 1
    assert "_bus/events/events.jsonl: line 100: anchored line 100 of 120 was edited" in res.err


def test_dropped_legacy_line_50_and_seq_shift_are_named(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    log = _dir_bus_with_anchor(dir_repo, cli)
    lines = log.read_text().splitlines(keepends=True)
    del lines[49]
    log.write_text("".join(lines))
    res = cli("verify", cwd=dir_repo)
    assert res.code == 1
    assert "line 50: anchored line 50 of 120 was dropped" in res.err
    assert "seq 121 now sits at record line 120" in res.err


def test_the_rule_places_edits_drops_and_inserts() -> None:
    lines = [json.dumps({"n": i}).encode() for i in range(10)]
    held = anchor.of_lines(lines)
    numbered = list(enumerate(lines, 1))
    assert anchor.problem(held, numbered) is None
    assert anchor.problem(held, [*numbered, (11, b'{"n": 99}')]) is None  # appended after
    assert anchor.problem(held, [(1, b'{"n":0}'), *numbered[1:]]) is None  # same record
    edited = [*numbered[:3], (4, b'{"n": 33}'), *numbered[4:]]
    assert anchor.problem(held, edited) == ("line 4", "anchored line 4 of 10 was edited")
    dropped = [*numbered[:5], *[(n - 1, ln) for n, ln in numbered[6:]]]
    assert anchor.problem(held, dropped) == ("line 6", "anchored line 6 of 10 was dropped")
