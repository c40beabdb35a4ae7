"""Command specifications: one table drives both the fast parser and the click interface.

Agents call repobus hundreds of times an hour, and importing click costs more than a claim.
So every command is declared once, as data; a well-formed command line is parsed by the small
parser here, and anything else (`--help`, a mistake) goes to the click interface built from
the same table, which prints the help or the precise usage error.  A test checks that both
parsers agree.
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
    kind: str  # str | int | flag | multi | nargs | choice
    help: str
    required: bool
    default: Any
    choices: tuple[str, ...]
    metavar: str | None
    short: str | None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


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
