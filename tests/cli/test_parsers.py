"""The two parsers agree: the fast parser (cli/spec.py) and the click app (cli/clickapp.py),
both built from one command table, read every command of the table, every example of
docs/cli.md and every playbook tool's line to the same (command, values), or both refuse it.
And every shim line the playbook prints parses through the shim table (cli/compat_tools.py)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from repobus.cli import clickapp, compat
from repobus.cli.commands import TABLE
from repobus.cli.compat_tools import SHIMS, TOOLS
from repobus.cli.spec import Command, Opt, parse_fast

ROOT = Path(__file__).resolve().parents[2]

# The shim lines of the playbook (seed/000_16ca6579505e51e5.txt), as it prints them.
PLAYBOOK = [
    "tools/agent/bus_claim.py claim --task QUEUE-001",
    "python -m tools.agent.session_boot --agent <id>",
    "python -m tools.agent.task_assign --task <id> --engineer <id> --plan <plan>",
    "python -m tools.agent.manager_report",
    "tools/agent/bus_status.py --limit 20 --agent <id> --active-only",
    "python -m tools.agent.bus_watch --limit 20 --follow",
    "python -m tools.agent.bus_watch --limit 20 --follow --agent <id>",
    "python -m tools.agent.bus_watch --limit 20 --follow --event status",
    "python -m tools.agent.bus_watch --limit 20 --follow --since <ISO>",
    "tools/agent/bus_status.py --limit 20 --agent <id> --active-only --json",
]

_SAMPLE = {"int": "3", "float": "1.5"}


def _click(table: dict[str, Command], argv: list[str]) -> tuple[Command, dict[str, Any]] | int:
    return clickapp.parse(table, argv)


def _agree(table: dict[str, Command], argv: list[str]) -> tuple[Command, dict[str, Any]]:
    fast = parse_fast(table, argv)
    slow = _click(table, argv)
    assert fast is not None, f"the fast parser left {argv} to click"
    assert slow == fast, argv
    return fast


def _refused(
    table: dict[str, Command], argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert parse_fast(table, argv) is None, argv
    assert _click(table, argv) == 2, argv
    assert "Error:" in capsys.readouterr().err, argv


def _words(opt: Opt, first_nargs: bool) -> list[str]:
    """A command line's words giving `opt` a value of its kind (every spelling on the way)."""
    if opt.kind in ("flag", "switch"):
        return [opt.flag] if opt.kind == "flag" else [opt.negative]
    if opt.kind == "choice":
        return [f"{opt.flag}={opt.choices[-1]}"]
    if opt.kind == "multi":
        return [opt.flag, "a", f"{opt.flag}=b"]
    if opt.kind == "nargs":  # click reads the words after the first one only (clickapp._values)
        return [opt.flag, "k=v", "k2=v2"] if first_nargs else [opt.flag, "k3=v3"]
    return [opt.flag, _SAMPLE.get(opt.kind, "-x y")]


def _full(cmd: Command) -> list[str]:
    words = cmd.name.split()
    nargs = [o for o in cmd.all_opts() if o.kind == "nargs"]
    for opt in cmd.all_opts():
        words += _words(opt, bool(nargs) and opt is nargs[0])
    return words + [f"arg-{a.dest}" for a in cmd.args]


def _minimal(cmd: Command) -> list[str]:
    words = cmd.name.split()
    for opt in cmd.all_opts():
        if opt.required:
            words += [opt.flag, "x"]
    return words + [f"arg-{a.dest}" for a in cmd.args if a.required]


BOTH = [("repobus", name) for name in TABLE] + [("shims", name) for name in SHIMS]


def _table(which: str) -> dict[str, Command]:
    return TABLE if which == "repobus" else SHIMS


@pytest.mark.parametrize(("which", "name"), BOTH)
def test_every_command_reads_the_same_in_both_parsers(which: str, name: str) -> None:
    table = _table(which)
    cmd = table[name]
    for argv in (_minimal(cmd), _full(cmd)):
        got, values = _agree(table, argv)
        assert got is cmd
    if cmd.all_opts():
        _, values = _agree(table, _full(cmd))
        assert all(values[o.dest] != o.default for o in cmd.all_opts() if o.kind != "choice")


@pytest.mark.parametrize(("which", "name"), BOTH)
def test_both_parsers_refuse_the_same_mistakes(
    which: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    table = _table(which)
    cmd = table[name]
    base = _minimal(cmd)
    _refused(table, [*base, "--bogus"], capsys)
    _refused(table, [*base, "extra-1", "extra-2", "extra-3"], capsys)
    for opt in cmd.all_opts():
        if opt.required:
            without = [w for i, w in enumerate(base) if opt.flag not in base[i - 1 : i + 1]]
            _refused(table, without, capsys)
        if opt.kind in ("int", "float", "choice"):
            _refused(table, [*base, opt.flag, "not-a-number"], capsys)
        if opt.kind in ("flag", "switch"):
            _refused(table, [*base, f"{opt.flag}=1"], capsys)
        if opt.kind not in ("flag", "switch", "nargs"):
            _refused(table, [*base, opt.flag], capsys)


def _doc_examples() -> list[list[str]]:
    text = (ROOT / "docs/cli.md").read_text()
    lines = []
    for block in re.findall(r"```text\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.split(r" [<>|] ", line.strip())[0]  # no shell redirections
            if line.startswith("repobus "):
                lines.append(shlex.split(line)[1:])
    return lines


def test_docs_give_examples_of_every_command() -> None:
    named = {" ".join(a[:2]) if " ".join(a[:2]) in TABLE else a[0] for a in _doc_examples()}
    assert named == set(TABLE)


@pytest.mark.parametrize("argv", _doc_examples(), ids=" ".join)
def test_every_example_in_the_docs_reads_the_same_in_both_parsers(argv: list[str]) -> None:
    _agree(TABLE, argv)


# Spans of docs/playbook.md that name a tool's flag in passing, not a whole command line.
SHORTHAND = {"bus_event log --event proposal"}


def _shim_lines() -> list[str]:
    """The shim lines of docs/playbook.md and of the playbook, placeholders filled in and
    optional parts ([...]) given.  Left out: a bare tool name, alternatives (`a|b`, `--x*`),
    elisions (a bare `...`) and the shorthand above."""
    text = re.sub(r"```.*?```", "", (ROOT / "docs/playbook.md").read_text(), flags=re.S)
    spans = [" ".join(s.split()) for s in re.findall(r"`([^`]+)`", text)]
    tools = "|".join(TOOLS)
    lines = [
        s
        for s in spans
        if re.match(rf"(python -m tools\.agent\.|tools/agent/)({tools})(\.py)?( |$)|({tools}) ", s)
        and not re.search(r"[|*]|(^|\s)\.\.\.(\s|$)", s)
        and s not in SHORTHAND
    ]
    return lines + PLAYBOOK


def _tool_argv(line: str) -> tuple[str, list[str]]:
    line = re.sub(r"<ISO>", "2000-01-01T00:00:00Z", line)
    line = re.sub(r"<[^>]*>", "codex-1", line).replace("[", "").replace("]", "")
    words = shlex.split(line)
    if words[0] == "python":
        words = words[2:]
    tool = re.sub(r"^(tools\.agent\.|tools/agent/)|\.py$", "", words[0])
    return tool, words[1:]


def test_the_playbook_lines_are_found() -> None:
    found = {_tool_argv(line)[0] for line in _shim_lines()}
    assert {"bus_claim", "bus_event", "bus_status", "bus_watch"} <= found
    assert {"session_boot", "task_assign", "manager_report"} <= found


@pytest.mark.parametrize("line", _shim_lines())
def test_every_playbook_line_parses_through_the_shim_table(line: str) -> None:
    tool, argv = _tool_argv(line)
    parsed = compat._parse(tool, argv)
    assert not isinstance(parsed, int), line
    _agree(SHIMS, [tool, *argv])


def test_the_originals_abbreviated_options_still_read() -> None:
    """argparse read `--mark` as `--mark-read`; an ambiguous prefix stays a usage error."""
    parsed = compat._parse("bus_inbox", ["--mark", "--no-capture"])
    assert not isinstance(parsed, int)
    assert parsed[1]["mark_read"] is True and parsed[1]["capture_receipt"] is False
    assert compat._parse("session_boot", ["--no"]) == 2


def test_shim_help_and_usage_errors_name_the_original_tool(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert compat._parse("bus_claim", ["claim", "--help"]) == 0
    assert "python -m tools.agent.bus_claim claim" in capsys.readouterr().out
    assert compat._parse("bus_message", ["--task", "T"]) == 2
    err = capsys.readouterr().err
    assert "Usage: python -m tools.agent.bus_message" in err and "--type" in err
