"""verify names the first record edited, dropped or reordered, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tamper import CASES, _seed, rewrite_git_chain

from repobus.bus import open_bus


@pytest.mark.parametrize("case", sorted(CASES))
def test_git_chain_tampering_is_named(repo: Path, cli, case: str) -> None:  # type: ignore[no-untyped-def]
    _seed(repo)
    change, pattern = CASES[case]
    rewrite_git_chain(repo, "refs/repobus/events/a1", change)
    res = cli("verify", cwd=repo)
    assert res.code == 1
    assert "refs/repobus/events/a1" in res.err
    import re

    assert re.search(pattern, res.err), res.err
    assert cli("check", cwd=repo).code == 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_dir_log_tampering_is_named(dir_repo: Path, cli, case: str) -> None:  # type: ignore[no-untyped-def]
    _seed(dir_repo)
    path = dir_repo / "_bus/events/events.jsonl"
    lines = [ln + b"\n" for ln in path.read_bytes().splitlines()]
    change, pattern = CASES[case]
    path.write_bytes(b"".join(change(lines)))
    res = cli("verify", "--json", cwd=dir_repo)
    assert res.code == 1
    problem = res.json["problems"][0]  # type: ignore[index]
    assert problem["chain"] == "_bus/events/events.jsonl"
    import re

    assert re.search(pattern, problem["problem"]), problem


def test_untouched_bus_verifies(any_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _seed(any_repo)
    bus = open_bus(any_repo)
    bus.claim("a1", "T-1")
    bus.release("a1", "T-1")
    res = cli("verify", cwd=any_repo)
    assert res.code == 0, res.err
    assert "intact" in res.out


def test_dir_claim_history_edit_is_named(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(dir_repo)
    bus.claim("a1", "T-1")
    bus.renew("a1", "T-1")
    bus.release("a1", "T-1")
    hist = dir_repo / "_bus/history/claims/T-1.jsonl"
    lines = hist.read_bytes().splitlines()
    rec = json.loads(lines[0])
    rec["agent_id"] = "mallory"
    lines[0] = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
    hist.write_bytes(b"\n".join(lines) + b"\n")
    res = cli("verify", cwd=dir_repo)
    assert res.code == 1 and "version 1" in res.err and "edited" in res.err
