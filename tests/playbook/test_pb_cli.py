"""The playbook commands' help, and the compat entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from repobus.cli.table_playbook import COMMANDS


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_help_has_examples(repo: Path, cli, name: str) -> None:  # type: ignore[no-untyped-def]
    cmd = next(c for c in COMMANDS if c.name == name)
    res = cli(*name.split(), "--help", cwd=repo)
    assert res.code == 0, res.err
    assert "Examples:" in res.out and cmd.examples[0].split()[1] in res.out


def test_unknown_tool_and_compat_main(capsys: pytest.CaptureFixture[str]) -> None:
    from repobus.cli import compat

    assert compat.run("nope", [], None) == 2
    assert compat.main([]) == 2
    assert "usage" in capsys.readouterr().err


BAD = [
    (["plan", "new", "--task", "../x", "--title", "t"], 2, "task id"),
    (["plan", "new", "--task", "T-1", "--title", " "], 2, "--title"),
    (["plan", "check", "../../etc"], 2, "plan id"),
    (["receipt", "add", "nope.txt", "--task", "../x"], 2, "task id"),
    (["receipt", "add", "nope.txt"], 4, "no such receipt file"),
    (["branch", "a b"], 2, "slug"),
    (["assign", "--task", "T-1", "--engineer", "../x"], 2, "agent id"),
    (["ack", "--task", "T-1"], 4, "no assignment for T-1"),
    (["send", "--task", "T-1", "--type", "note", "--summary", "s", "--to", "a/b"], 2, "agent id"),
    (["send", "--task", "T-1", "--type", "two words", "--summary", "s"], 2, "message type"),
    (["queue", "--state", "nope"], 2, "--state"),
    (["inbox", "--limit", "-1"], 2, "--limit"),
    (["stale", "--threshold-hours", "soon"], 2, "--threshold-hours"),
    (["heartbeat", "--manager-window", "x"], 2, "--manager-window"),
    (["memory", "log", "--summary", "s"], 2, "--ref"),
    (["memory", "log", "--summary", "s", "--ref", "_bus/claims/NOPE.json"], 4, "does not resolve"),
    (["manifest", "use", "../x"], 2, "manifest variant"),
    (["manifest", "restore"], 4, "no backups available"),
    (["check", "--pr", "main"], 2, "BASE..HEAD"),
    (["check", "--pr", "main..nope"], 4, "no such revision: nope"),
    (["boot", "--no-sync", "--confidence", "2"], 2, "--confidence"),
    (["pr", "--task", "T-1"], 4, "no claim found for task T-1"),
]


@pytest.mark.parametrize(("args", "code", "text"), BAD, ids=lambda v: str(v)[:40])
def test_bad_input_one_line_error_exit_code_nothing_written(
    repo: Path,
    cli,
    args: list[str],  # type: ignore[no-untyped-def]
    code: int,
    text: str,
) -> None:
    from conftest import unchanged

    with unchanged(repo):
        res = cli(*args, cwd=repo, agent="a1")
    assert res.code == code, (res.out, res.err)
    lines = [ln for ln in res.err.splitlines() if not ln.startswith("hint:")]
    assert len(lines) == 1 and lines[0].startswith("error:") and text in lines[0], res.err
