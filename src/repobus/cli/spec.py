"""Command specifications: one table drives both the fast parser and the click interface.

Agents call repobus hundreds of times an hour, and importing click costs more than a claim.
So every command is declared once, as data; a well-formed command line is parsed by the small
parser here, and anything else (`--help`, a mistake) goes to the click interface built from
the same table (cli/clickapp.py), which prints the help or the precise usage error.  These are
the only two parsers of the code base, and they read three tables of this vocabulary: the
command table (cli/commands.py + cli/table_*.py), the status command alone (cli/table_status.py,
for the lean path, which must not import the whole table), and the playbook's original tools
(cli/compat_tools.py: `Tool`s, which take only their own options).

Invariants: `parse_fast` returns (command, values) only for a command line click reads the
same way, with the same values; it returns None for anything else, and never raises.
tests/cli/test_parsers.py holds the two parsers to this on every command of the table and every
example in docs/cli.md, and checks every shim example of the playbook parses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Plain:
    """Small immutable records without the cost of importing dataclasses at start-up."""

    __slots__: tuple[str, ...] = ()
    _FIELDS: tuple[tuple[str, Any], ...] = ()

    def __init__(self, *args: Any, **kw: Any) -> None:
        names = [n for n, _ in self._FIELDS]
        given = dict(zip(names, args, strict=False), **kw)
        unknown = set(given) - set(names)
        if unknown:
            raise TypeError(f"unknown fields: {sorted(unknown)}")
        for name, default in self._FIELDS:
            if name not in given and default is _REQUIRED:
                raise TypeError(f"missing field {name!r}")
            object.__setattr__(self, name, given.get(name, default))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, n) == getattr(other, n) for n, _ in self._FIELDS
        )

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, n) for n, _ in self._FIELDS))

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n, _ in self._FIELDS)
        return f"{type(self).__name__}({inner})"


_REQUIRED: Any = object()


def replace(obj: Any, **changes: Any) -> Any:
    """A copy of a spec record with some fields changed (like dataclasses.replace)."""
    return type(obj)(**{**{n: getattr(obj, n) for n, _ in obj._FIELDS}, **changes})


class Opt(_Plain):
    _FIELDS = (
        ("flag", _REQUIRED),
        ("kind", "str"),
        ("help", ""),
        ("required", False),
        ("default", None),
        ("choices", ()),
        ("metavar", None),
        ("short", None),
    )
    __slots__ = tuple(n for n, _ in _FIELDS)
    flag: str
    kind: str  # str | int | float | flag | switch (--x/--no-x) | multi | nargs | choice
    help: str
    required: bool
    default: Any
    choices: tuple[str, ...]
    metavar: str | None
    short: str | None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def negative(self) -> str:
        """The flag that turns a switch off: `--no-x` for `--x`."""
        return "--no-" + self.flag.lstrip("-")


class Arg(_Plain):
    _FIELDS = (("dest", _REQUIRED), ("required", True), ("help", ""))
    __slots__ = tuple(n for n, _ in _FIELDS)
    dest: str
    required: bool
    help: str


class Command(_Plain):
    _FIELDS = (
        ("name", _REQUIRED),
        ("summary", _REQUIRED),
        ("handler", _REQUIRED),
        ("opts", ()),
        ("args", ()),
        ("doc", ""),
        ("examples", ()),
        ("reads", False),
        ("needs_agent", True),
    )
    __slots__ = tuple(n for n, _ in _FIELDS)
    name: str
    summary: str
    handler: str
    opts: tuple[Opt, ...]
    args: tuple[Arg, ...]
    doc: str
    examples: tuple[str, ...]
    reads: bool
    needs_agent: bool

    def all_opts(self) -> tuple[Opt, ...]:
        common = [
            Opt("--repo", metavar="PATH", help="Run as if started in PATH."),
            Opt("--debug", "flag", help="Show a traceback on internal errors."),
        ]
        if self.needs_agent:
            common.insert(
                0,
                Opt(
                    "--agent",
                    metavar="ID",
                    help="Acting agent (else $REPOBUS_AGENT, else AGENT_MANIFEST.json).",
                ),
            )
        common.insert(0, Opt("--json", "flag", help="Print JSON (errors too)."))
        mine = {o.flag for o in self.opts}
        return self.opts + tuple(o for o in common if o.flag not in mine)


class Tool(Command):
    """One of the playbook's original command lines (`bus_claim claim`, `bus_status`, ...): it
    takes only its own options, and its handler is the planner that turns the parsed values
    into repobus commands (cli/compat.py)."""

    __slots__ = ()

    def all_opts(self) -> tuple[Opt, ...]:
        return self.opts


def defaults(cmd: Command) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for o in cmd.all_opts():
        if o.kind in ("flag", "switch"):
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
    found = _find(table, argv)
    if found is None:
        return None
    cmd, rest = found
    values = defaults(cmd)
    seen: set[str] = set()
    positional = _scan(_flags(cmd), rest, values, seen)
    if positional is None or len(positional) > len(cmd.args):
        return None
    for arg, value in zip(cmd.args, positional, strict=False):
        values[arg.dest] = value
    if any(a.required and values[a.dest] is None for a in cmd.args):
        return None
    if any(o.required and o.dest not in seen for o in cmd.all_opts()):
        return None
    return cmd, values


def _find(table: dict[str, Command], argv: list[str]) -> tuple[Command, list[str]] | None:
    """The command argv names (a two-word name first) and the words after its name."""
    if not argv:
        return None
    cmd = table.get(" ".join(argv[:2])) if len(argv) > 1 else None
    if cmd is not None:
        return cmd, argv[2:]
    cmd = table.get(argv[0])
    return None if cmd is None else (cmd, argv[1:])


def _flags(cmd: Command) -> dict[str, Opt]:
    """Every spelling of every option: long flags, then `--no-x` of switches, then shorts."""
    opts = {o.flag: o for o in cmd.all_opts()}
    opts.update({o.negative: o for o in cmd.all_opts() if o.kind == "switch"})
    opts.update({o.short: o for o in cmd.all_opts() if o.short})
    return opts


def _scan(
    opts: dict[str, Opt], rest: list[str], values: dict[str, Any], seen: set[str]
) -> list[str] | None:
    """Read the options of `rest` into `values`; the positional words, or None if malformed."""
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
            return None  # click prints the help, or names the unknown option
        seen.add(opt.dest)
        i = _take(opt, name, inline if eq else None, rest, i, values)
        if i < 0:
            return None
    return positional


def _take(
    opt: Opt, name: str, inline: str | None, rest: list[str], i: int, values: dict[str, Any]
) -> int:
    """Read one option (spelled `name`, `--opt=inline` when inline is not None) whose value,
    if any, starts at rest[i]; the index after it, or -1 if it is malformed."""
    if opt.kind in ("flag", "switch"):
        if inline is not None:
            return -1
        values[opt.dest] = opt.kind == "flag" or name != opt.negative
        return i
    if opt.kind == "nargs":
        items = [] if inline is None else [inline]
        while i < len(rest) and not (rest[i].startswith("-") and len(rest[i]) > 1):
            items.append(rest[i])
            i += 1
        values[opt.dest] = values[opt.dest] + items
        return i
    if inline is None:
        if i >= len(rest) or rest[i].startswith("--"):
            return -1
        inline, i = rest[i], i + 1
    return i if _store(opt, inline, values) else -1


def _store(opt: Opt, text: str, values: dict[str, Any]) -> bool:
    """Convert and store one option value; False if click would refuse it."""
    value: Any = text
    if opt.kind in ("int", "float"):
        try:
            value = int(text) if opt.kind == "int" else float(text)
        except ValueError:
            return False
    elif opt.kind == "choice" and text not in opt.choices:
        return False
    if opt.kind == "multi":
        values[opt.dest].append(value)
    else:
        values[opt.dest] = value
    return True
