"""The click interface, built from the command table: help, examples and usage errors."""

from __future__ import annotations

from typing import Any

import click

from repobus import __version__
from repobus.cli.spec import Command, Opt, Tool, defaults


def _param(opt: Opt) -> click.Option:
    decls = [opt.flag] + ([opt.short] if opt.short else [])
    kw: dict[str, Any] = {"help": opt.help, "required": opt.required}
    if opt.metavar:
        kw["metavar"] = opt.metavar
    if opt.default is not None:
        # only a real default: click 8.3+ takes an explicit default=None as a value given,
        # and would then not report a missing required option
        kw["default"] = opt.default
    if opt.kind in ("flag", "switch"):
        kw["default"] = bool(opt.default)
        if opt.kind == "switch":
            decls[0] = f"{opt.flag}/{opt.negative}"
        return click.Option(decls, is_flag=True, **kw)
    if opt.kind in _TYPES:
        return click.Option(decls, type=_TYPES[opt.kind], **kw)
    if opt.kind == "choice":
        return click.Option(decls, type=click.Choice(opt.choices), **kw)
    if opt.kind in ("multi", "nargs"):
        kw["default"] = opt.default or ()
        return click.Option(decls, multiple=True, **kw)
    return click.Option(decls, **kw)


_TYPES: dict[str, Any] = {"int": int, "float": float}


def _values(cmd: Command, variadic: Opt | None, kw: dict[str, Any]) -> dict[str, Any]:
    """The values click parsed, shaped as the fast parser shapes them (spec.defaults)."""
    values = defaults(cmd)
    rest = list(kw.pop("_rest", ()) or ())
    for key, value in kw.items():
        values[key] = list(value) if isinstance(value, tuple) else value
    if rest:
        # click has no option taking a variable number of values: the words after one
        # arrive as arguments, and belong to it
        if variadic is None or not values[variadic.dest]:
            raise click.UsageError(f"unexpected argument {rest[0]!r}")
        values[variadic.dest] = values[variadic.dest] + rest
    return values


class _Rest(click.Argument):
    """The words after a variadic option (see _values): parsed, never shown in usage."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def _command(cmd: Command, leaf: str, parse_only: bool = False) -> click.Command:
    params: list[click.Parameter] = [_param(o) for o in cmd.all_opts()]
    params += [click.Argument([a.dest], required=a.required) for a in cmd.args]
    variadic = next((o for o in cmd.all_opts() if o.kind == "nargs"), None)
    if variadic is not None and not cmd.args:
        params.append(_Rest(["_rest"], nargs=-1))

    def callback(**kw: Any) -> tuple[Command, dict[str, Any]]:
        values = _values(cmd, variadic, kw)
        if parse_only:
            return cmd, values
        from repobus.cli.runner import dispatch

        raise SystemExit(dispatch(cmd, values))

    epilog = "\b\nExamples:\n" + "\n".join(f"  {e}" for e in cmd.examples) if cmd.examples else None
    return click.Command(
        leaf,
        params=params,
        callback=callback,
        help=cmd.doc or cmd.summary,
        short_help=cmd.summary,
        epilog=epilog,
    )


def build(table: dict[str, Command], parse_only: bool = False) -> click.Group:
    """The click app of a table; with parse_only, a command returns (command, values)
    instead of running."""
    root = click.Group(
        "repobus",
        help="The coordination bus that lives in your git repository: claims with one winner, "
        "leases with fencing tokens, an append-only verifiable log.",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    root = click.version_option(__version__, "--version", "-V", prog_name="repobus")(root)
    groups: dict[str, click.Group] = {}
    for name, cmd in table.items():
        head, _, leaf = name.partition(" ")
        if leaf:
            grp = groups.get(head)
            if grp is None:
                # a playbook tool's subcommands share the tool's description
                about = cmd.summary if isinstance(cmd, Tool) else f"{head} commands."
                grp = groups[head] = click.Group(head, help=about)
                root.add_command(grp)
            grp.add_command(_command(cmd, leaf, parse_only))
        else:
            root.add_command(_command(cmd, name, parse_only))
    return root


def run(table: dict[str, Command], argv: list[str]) -> int:
    app = build(table)
    try:
        app.main(args=argv, prog_name="repobus", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def parse(
    table: dict[str, Command], argv: list[str], prog: str = "repobus", under: str | None = None
) -> tuple[Command, dict[str, Any]] | int:
    """click's reading of argv, without running anything: (command, values), or the exit code
    after click printed the help (0) or a usage error (2).  `under` names the top-level
    command or group to start from, with `prog` as its name (the playbook's tools)."""
    app = build(table, parse_only=True)
    entry: click.Command = app if under is None else app.commands[under]
    try:
        got = entry.main(
            args=list(argv),
            prog_name=prog,
            standalone_mode=False,
            help_option_names=["-h", "--help"],
            max_content_width=100,
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    if isinstance(got, tuple):
        return got
    return got if isinstance(got, int) else 0


def usage_error(table: dict[str, Command], name: str, message: str, prog: str = "repobus") -> int:
    """Print a usage error about command `name` of `table` as click prints one; exit code 2."""
    app = build(table)
    head, _, leaf = name.partition(" ")
    cmd: click.Command = app.commands[head]
    with click.Context(cmd, info_name=prog) as ctx:
        if leaf:
            sub = cmd.commands[leaf]  # type: ignore[attr-defined]
            with click.Context(sub, info_name=leaf, parent=ctx) as sub_ctx:
                click.UsageError(message, sub_ctx).show()
        else:
            click.UsageError(message, ctx).show()
    return 2


def reference(table: dict[str, Command]) -> str:
    """The CLI reference in Markdown, made from each command's `--help` (docs/cli.md)."""
    app = build(table)
    parts = [
        "# CLI reference",
        "",
        "Generated from `repobus <command> --help` (`python -m repobus.cli.clickapp`); "
        "a test keeps it current.",
        "",
    ]
    for name in sorted(table):
        head, _, leaf = name.partition(" ")
        cmd: click.Command = app.commands[head]
        if leaf:
            cmd = cmd.commands[leaf]  # type: ignore[attr-defined]
        with click.Context(
            cmd, info_name=f"repobus {name}", terminal_width=100, max_content_width=100
        ) as ctx:
            text = cmd.get_help(ctx)
        parts += [f"## repobus {name}", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":  # regenerate docs/cli.md
    import sys

    from repobus.cli.commands import TABLE

    sys.stdout.write(reference(TABLE))
