"""The docs stay true: the CLI reference is the commands' own --help; the README's commands."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    from repobus.cli.clickapp import reference
    from repobus.cli.commands import TABLE

    current = (ROOT / "docs/cli.md").read_text()
    assert current == reference(TABLE), (
        "docs/cli.md is stale: regenerate it with `python -m repobus.cli.clickapp > docs/cli.md`"
    )


def test_readme_gives_the_two_setup_commands_and_ci_runs_the_second() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert "repobus demo" in block[0] and "pip install" in block[0]
    assert "pytest" in block[1] and "--group dev" in block[1]
    ci = (ROOT / ".ci/run").read_text()
    assert "sed -n 2p" in ci and "README.md" in ci


def test_every_command_has_examples_in_help() -> None:
    from repobus.cli.commands import TABLE

    missing = [name for name, cmd in TABLE.items() if not cmd.examples]
    assert missing == []


def test_every_error_kind_and_code_is_in_the_exit_code_table() -> None:
    from repobus import errors

    table = (ROOT / "docs" / "exit-codes.md").read_text()
    rows = {
        line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")
    }
    kinds = {
        cls.kind: cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.BusError) and cls.kind != "git"
    }
    missing = [f"{k} ({c})" for k, c in kinds.items() if f"`{k}`" not in rows.get(str(c), "")]
    assert missing == []
