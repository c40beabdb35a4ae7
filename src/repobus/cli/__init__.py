"""The command line: the only layer that reads argv and the environment, prints, and picks
exit codes.  `main(argv) -> int`.

`repobus --version` answers before anything is imported; other well-formed command lines are
parsed by the table-driven fast parser; `--help` and mistakes go to the click interface.
"""

from __future__ import annotations

import os
import sys

from repobus import __version__
from repobus.cli.runner import Ctx, _table, dispatch

__all__ = ["Ctx", "dispatch", "main"]


def _write(out: bytes) -> int:
    """Write a whole answer (and its newline) to stdout, as bytes."""
    try:
        raw = getattr(sys.stdout, "buffer", None)
        if raw is None:  # a text stream (output captured in-process)
            sys.stdout.write(out.decode("utf-8") + "\n")
            sys.stdout.flush()
            return 0
        sys.stdout.flush()
        raw.write(out)
        raw.write(b"\n")
        raw.flush()
    except BrokenPipeError:
        return 0
    except OSError as exc:
        sys.stderr.write(f"error: cannot write the output: {exc.strerror or exc}\n")
        return 74
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:  # started with the descriptor closed: output goes nowhere
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
    if args in (["--version"], ["-V"]):
        sys.stdout.write(f"repobus {__version__}\n")
        return 0
    for arg in args:
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            sys.stderr.write(f"error: argument {shown!r} is not valid UTF-8\n")
            return 2
    if args[:1] == ["status"]:  # the command agents poll: answered by the lean path when it can
        from repobus.cli.lean import serve_status

        out = serve_status(args[1:])
        if out is not None:
            return _write(out)
    from repobus.cli.spec import parse_fast

    table = _table()
    parsed = parse_fast(table, args)
    if parsed is None:
        from repobus.cli import clickapp

        return clickapp.run(table, args)
    return dispatch(*parsed)
