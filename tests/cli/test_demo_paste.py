"""The demo teaches (issue 16, item 10): every command it prints pastes into a shell as
printed -- `bash -n` accepts it, and the shell's words are the arguments the demo passed
(a summary holding `;` or commas stays one argument) -- and click parses each one."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from conftest import run_console

from repobus.cli.clickapp import parse
from repobus.cli.cmd_demo import shown
from repobus.cli.commands import TABLE


def test_a_quoted_line_splits_into_the_words_passed() -> None:
    words = ("pause", "--task", "QUEUE-001", "--notes", "it stopped; tests 'are' in place")
    assert shlex.split(shown("beta", *words)) == ["REPOBUS_AGENT=beta", "repobus", *words]


def test_every_printed_command_pastes(repo: Path) -> None:
    res = run_console("demo", cwd=repo, timeout=120)
    assert res.returncode == 0, res.stderr
    lines = [ln[2:] for ln in res.stdout.splitlines() if ln.startswith("$ ")]
    assert len(lines) >= 12, res.stdout
    check = subprocess.run(
        ["bash", "-n"], input="\n".join(lines) + "\n", capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    notes = {}
    for line in lines:
        env, prog, *argv = shlex.split(line)
        assert env.startswith("REPOBUS_AGENT=") and prog == "repobus", line
        got = parse(TABLE, argv)
        assert isinstance(got, tuple), line  # click reads it; no usage error
        for flag in ("--summary", "--notes", "--reason"):
            if flag in argv:
                notes[flag] = notes.get(flag, []) + [argv[argv.index(flag) + 1]]
    assert "tests written, implementation half done" in notes["--summary"]
    assert any(n.endswith("stopped responding; tests are in place") for n in notes["--notes"])
    assert any("; the demo does not wait" in r for r in notes["--reason"])


def test_usage_lines_show_no_internal_names(repo: Path) -> None:
    res = run_console("log", "--help", cwd=repo)
    assert res.returncode == 0, res.stderr
    usage = res.stdout.splitlines()[0]
    assert usage.startswith("Usage: repobus log") and "_REST" not in res.stdout, usage
