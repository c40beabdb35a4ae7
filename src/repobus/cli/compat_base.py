"""What every original tool's command line shares: the session options, the options every
repobus command takes, the two ways a planner refuses (a usage error, exit 2, as argparse's
`p.error`; a refusal, exit 1, as the originals' SystemExit(message)), and argparse's
abbreviated long options, which the originals accepted.

Invariant: a planner (the handler of a `Tool`, cli/compat_tools.py) only reads the parsed
values and returns the plan - repobus commands and their values; it writes nothing."""

from __future__ import annotations

from repobus.cli.spec import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from repobus.cli.spec import Command

    Plan = list[tuple[str, dict[str, Any]]]

SESSION = (Opt("--allow-stale-session", "flag"), Opt("--session-max-age", "int"))


def common(values: dict[str, Any]) -> dict[str, Any]:
    out = {
        "allow_stale_session": values.get("allow_stale_session", False),
        "session_max_age": values.get("session_max_age"),
    }
    if values.get("agent") is not None:
        out["agent"] = values["agent"]
    return out


def unabbreviate(cmd: Command, argv: list[str]) -> list[str]:
    """argv with each unambiguous prefix of a long option spelled out (`--mark` for
    `--mark-read`), as argparse read the originals' command lines; anything else unchanged,
    for the parsers to accept or refuse."""
    flags = {o.flag for o in cmd.all_opts()} | {"--help"}
    flags |= {o.negative for o in cmd.all_opts() if o.kind == "switch"}
    out: list[str] = []
    for i, tok in enumerate(argv):
        if tok == "--":
            return out + argv[i:]
        name, eq, value = tok.partition("=")
        if name.startswith("--") and name not in flags:
            found = [f for f in flags if f.startswith(name)]
            if len(found) == 1:
                tok = found[0] + eq + value
        out.append(tok)
    return out


class Refusal(Exception):
    """A validation the original raised as SystemExit(message): exit 1, nothing written."""


class ShimUsage(Exception):
    """A usage error the original's argparse reported after parsing (`p.error`): exit 2."""
