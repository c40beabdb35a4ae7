"""Command specifications: one table drives both the fast parser and the click interface.

Agents call repobus hundreds of times an hour, and importing click costs more than a claim.
So every command is declared once, as data; a well-formed command line is parsed by the small
parser here, and anything else (`--help`, a mistake) goes to the click interface built from
the same table, which prints the help or the precise usage error.  A test checks that both
parsers agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Opt:
    flag: str
    kind: str = "str"  # str | int | flag | multi | nargs | choice
    help: str = ""
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None
    short: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Arg:
    dest: str
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class Command:
    name: str
    summary: str
    handler: str
    opts: tuple[Opt, ...] = ()
    args: tuple[Arg, ...] = ()
    doc: str = ""
    examples: tuple[str, ...] = ()
    reads: bool = False
    needs_agent: bool = True

    def all_opts(self) -> tuple[Opt, ...]:
        common = [
            Opt("--repo", metavar="PATH", help="Run as if started in PATH."),
            Opt("--debug", "flag", help="Show a traceback on internal errors."),
        ]
        if self.needs_agent:
            common.insert(0, Opt("--agent", metavar="ID",
                                 help="Acting agent (else $REPOBUS_AGENT, else AGENT_MANIFEST.json)."))
        common.insert(0, Opt("--json", "flag", help="Print JSON (errors too)."))
        mine = {o.flag for o in self.opts}
        return self.opts + tuple(o for o in common if o.flag not in mine)


def defaults(cmd: Command) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for o in cmd.all_opts():
        if o.kind == "flag":
            out[o.dest] = bool(o.default)
        elif o.kind in ("multi", "nargs"):
            out[o.dest] = list(o.default or [])
        else:
            out[o.dest] = o.default
    for a in cmd.args:
        out[a.dest] = None
    return out


def parse_fast(table: dict[str, Command], argv: list[str]) -> tuple[Command, dict[str, Any]] | None:
    """Parse a well-formed command line, or return None to let click handle it."""
    if not argv:
        return None
    cmd = table.get(" ".join(argv[:2])) if len(argv) > 1 else None
    rest = argv[2:] if cmd else argv[1:]
    cmd = cmd or table.get(argv[0])
    if cmd is None:
        return None
    opts = {o.flag: o for o in cmd.all_opts()}
    opts.update({o.short: o for o in cmd.all_opts() if o.short})
    values = defaults(cmd)
    seen: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(rest):
        tok = rest[i]
        i += 1
        if tok == "--":
            positional += rest[i:]
            break
        if not tok.startswith("-") or tok == "-":
            positional.append(tok)
            continue
        name, eq, inline = tok.partition("=")
        opt = opts.get(name)
        if opt is None or name in ("-h", "--help"):
            return None
        seen.add(opt.dest)
        if opt.kind == "flag":
            if eq:
                return None
            values[opt.dest] = True
            continue
        if opt.kind == "nargs":
            items = [inline] if eq else []
            while i < len(rest) and not (rest[i].startswith("-") and len(rest[i]) > 1):
                items.append(rest[i])
                i += 1
            values[opt.dest] = values[opt.dest] + items
            continue
        if eq:
            value = inline
        elif i < len(rest) and not rest[i].startswith("--"):
            value = rest[i]
            i += 1
        else:
            return None
        if opt.kind == "int":
            try:
                values[opt.dest] = int(value)
            except ValueError:
                return None
        elif opt.kind == "choice":
            if value not in opt.choices:
                return None
            values[opt.dest] = value
        elif opt.kind == "multi":
            values[opt.dest].append(value)
        else:
            values[opt.dest] = value
    if len(positional) > len(cmd.args):
        return None
    for arg, value in zip(cmd.args, positional, strict=False):
        values[arg.dest] = value
    if any(a.required and values[a.dest] is None for a in cmd.args):
        return None
    if any(o.required and o.dest not in seen for o in cmd.all_opts()):
        return None
    return cmd, values
