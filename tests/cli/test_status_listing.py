"""`repobus status` shows live work by default: the live claims and those finished within the
window (24 h, `--since`), `--all` every claim, in pages of `--page-size` continued by
`--cursor`; on both backends, with the human output saying what it left out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from repobus.bus import open_bus, with_config

DAY = 86400


def _bus_with_history(repo: Path, cli: Callable[..., Any]) -> None:
    assert cli("init", "--agent", "a1", "--no-remote", cwd=repo).code == 0
    bus = open_bus(repo)
    now = bus.clock()
    old = with_config(bus)
    old.clock = lambda: now - 3 * DAY  # type: ignore[method-assign]
    for i in range(5):
        old.claim("a2", f"T-old-{i}")
        old.release("a2", f"T-old-{i}")
    bus.claim("a1", "T-live")
    bus.claim("a1", "T-paused")
    bus.pause("a1", "T-paused", notes="later")
    bus.claim("a3", "T-new-done")
    bus.release("a3", "T-new-done")


def _tasks(cli: Callable[..., Any], repo: Path, *args: str) -> tuple[list[str], dict[str, Any]]:
    res = cli("status", "--json", *args, cwd=repo)
    assert res.code == 0, res.err
    return [c["task_id"] for c in res.json["claims"]], res.json


def test_status_defaults_to_live_work_and_pages_history(
    any_repo: Path, cli: Callable[..., Any]
) -> None:
    _bus_with_history(any_repo, cli)
    live = ["T-live", "T-new-done", "T-paused"]
    got, doc = _tasks(cli, any_repo)
    assert got == live and doc["claims_left_out"] == 5 and doc["next_cursor"] is None
    assert doc["filters"]["all"] is False and doc["filters"]["finished_since"]
    everything = sorted(live + [f"T-old-{i}" for i in range(5)])
    got, doc = _tasks(cli, any_repo, "--all")
    assert got == everything and doc["claims_left_out"] == 0
    assert _tasks(cli, any_repo, "--since", "4d")[0] == everything
    assert _tasks(cli, any_repo, "--since", "2d")[0] == live
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(len(everything) + 1):  # pages of three: every claim once, in task order
        got, doc = _tasks(cli, any_repo, "--all", "--page-size", "3", *cursor)
        assert len(got) <= 3
        seen += got
        if doc["next_cursor"] is None:
            break
        cursor = ["--cursor", doc["next_cursor"]]
    assert seen == everything


def test_human_status_says_what_it_left_out(any_repo: Path, cli: Callable[..., Any]) -> None:
    _bus_with_history(any_repo, cli)
    out = cli("status", cwd=any_repo).out
    assert "T-live" in out and "T-old-0" not in out
    assert "5 claims finished before" in out and "repobus status --all" in out
    paged = cli("status", "--page-size", "1", cwd=any_repo).out
    assert "more claims: `repobus status --cursor " in paged
    assert "T-old-3" in cli("status", "--all", cwd=any_repo).out


def test_a_bad_cursor_or_page_size_is_a_usage_error(repo: Path, cli: Callable[..., Any]) -> None:
    _bus_with_history(repo, cli)
    bad = cli("status", "--json", "--cursor", "nonsense", cwd=repo)
    assert bad.code == 2 and "--cursor must be a cursor" in bad.out
    zero = cli("status", "--json", "--page-size", "0", cwd=repo)
    assert zero.code == 2 and "--page-size must be between 1" in zero.out
