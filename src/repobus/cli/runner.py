"""Running one parsed command: its context (options, environment, streams, the bus opened on
first use), the handler from the command table, the hooks around it (cli/lifecycle.py), and
the one error boundary that turns a BusError into `error:`/`hint:` lines and an exit code."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, Any


class Ctx:
    """What a command handler gets: its parsed values, the environment, output streams.

    Options are read through the typed accessors below (`text`, `need`, `flag`, `number`,
    `texts`, and `fence`, `ttl_seconds` for the common ones), which check at run time that the
    parser gave the type the handler relies on, so mypy checks every use.  Attribute access
    (`ctx.task`) still works and is `Any`: the handlers not converted yet use it."""

    def __init__(
        self,
        values: dict[str, Any],
        env: Mapping[str, str],
        out: IO[str] | None = None,
        err: IO[str] | None = None,
    ) -> None:
        self.values = values
        self.env = env
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.json = bool(values.get("json"))
        self.command: str | None = None  # the command's name, set by dispatch
        self._bus: Any = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    # -- typed options ------------------------------------------------------------------------
    def _typed(self, name: str, kind: type | tuple[type, ...], what: str) -> Any:
        value = self.values.get(name)
        if value is not None and not isinstance(value, kind):
            # the parser and the command table disagree: a bug, not the person's mistake
            raise TypeError(f"option {name!r} is {type(value).__name__}, not {what}")
        return value

    def text(self, name: str) -> str | None:
        """A text option's value; None when it was not given."""
        got: str | None = self._typed(name, str, "text")
        return got

    def need(self, name: str) -> str:
        """A required text option's value (the parser refuses a command line without it)."""
        got = self.text(name)
        if got is None:
            raise TypeError(f"required option {name!r} reached the handler unset")
        return got

    def flag(self, name: str) -> bool:
        return bool(self.values.get(name))

    def number(self, name: str) -> int | None:
        """A whole-number option's value; None when it was not given."""
        if isinstance(self.values.get(name), bool):
            raise TypeError(f"option {name!r} is a flag, not a number")
        got: int | None = self._typed(name, int, "a number")
        return got

    def texts(self, name: str) -> list[str]:
        """A repeatable text option's values (empty when not given)."""
        got = self._typed(name, (list, tuple), "a list") or []
        return [str(v) for v in got]

    @property
    def fence(self) -> int | None:
        """`--fence N`: the fencing token the caller holds."""
        return self.number("fence")

    def ttl_seconds(self) -> int | None:
        """`--ttl`: a lease length in seconds (`30m`, `2h`, `90`); None when not given."""
        raw = self.text("ttl")
        if not raw:
            return None
        from repobus.records import times

        return times.parse_duration(raw)

    def bus(self, backend: str | None = None) -> Any:
        if self._bus is None:
            from repobus.bus import open_bus
            from repobus.cli.lifecycle import bus_access

            notes: list[str] = []
            self._bus = open_bus(
                self.values.get("repo"),
                backend,
                writes=bus_access(self.command, self.values),
                notes=notes,
            )
            for text in notes:  # now: the command may still fail, the set-up stays done
                self.note(f"note: {text}")
            if self.values.get("offline"):  # a store without a remote ignores it
                self._bus.store.offline = True
        return self._bus

    def flush_notes(self) -> None:
        """What the store wants the person to know (records queued, offline changes)."""
        for text in self._bus.store.notes if self._bus is not None else ():
            self.err.write(f"note: {text}\n")

    def agent(self) -> str:
        from repobus.playbook.session import resolve_agent

        return resolve_agent(
            self.bus().repo.root, self.values.get("agent"), self.env.get("REPOBUS_AGENT")
        )

    def emit(self, data: Any, text: str | None = None) -> None:
        if self.json:
            from repobus.records.models import canonical

            self.out.write(canonical(data).decode("utf-8") + "\n")
        elif text is not None:
            self.out.write(text + ("\n" if text and not text.endswith("\n") else ""))
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text + "\n")


def _table() -> dict[str, Any]:
    from repobus.cli.commands import TABLE

    return TABLE


def dispatch(
    cmd: Any,
    values: dict[str, Any],
    env: Mapping[str, str] | None = None,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    ctx = Ctx(values, os.environ if env is None else env, out, err)
    ctx.command = cmd.name
    module, _, func = cmd.handler.partition(":")
    import importlib

    from repobus.cli import lifecycle

    try:
        handler = getattr(importlib.import_module(module), func)
        lifecycle.before(cmd, ctx)
        code = int(handler(ctx) or 0)
        ctx.flush_notes()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # the one error boundary
        return _report(ctx, exc)
    lifecycle.after(cmd, ctx, code)  # session guard before, _bus/ mirror after (playbook)
    return code


_DISK = {  # the disk refuses the write: storage
    28: "No space left on device",
    122: "Disk quota exceeded",
    30: "Read-only file system",
    13: "Permission denied",
}
_WRONG_PATH = (17, 20, 21, 36, 40)  # EEXIST ENOTDIR EISDIR ENAMETOOLONG ELOOP: usage


def _os_error(exc: OSError) -> Exception:
    """What an OSError means to the person: a disk that refuses writes (74), a path of the
    wrong kind (2), a path the system refuses (74); one without a path stays internal.  The
    path named is the one the person gave: a rename's destination, not its temporary file."""
    from repobus.errors import StorageError, UsageError

    path = exc.filename2 if exc.filename2 is not None else exc.filename
    name = None if path is None else str(path)
    if name is not None and len(name) > 200:
        name = name[:200] + "..."
    if exc.errno in _DISK:
        return StorageError(
            f"cannot write {name or 'to the repository'}: {exc.strerror or _DISK[exc.errno]}",
            hint="fix the disk (free space, permissions), then retry; a write "
            "that failed changed nothing",
        )
    if name is None:
        return exc
    if exc.errno in _WRONG_PATH:
        return UsageError(
            f"cannot use {name}: {exc.strerror}",
            hint="give a file where a file is expected and a directory where a directory is "
            "(and a shorter name)",
        )
    return StorageError(
        f"cannot use {name}: {exc.strerror or exc}",
        hint="check the path (it must be somewhere repobus can create and write files)",
    )


def _report(ctx: Ctx, exc: Exception) -> int:
    from repobus.errors import BusError

    if isinstance(exc, OSError):
        exc = _os_error(exc)
    if isinstance(exc, BusError):
        code, kind, message, hint = exc.code, exc.kind, exc.message, exc.hint
    else:
        code, kind, message, hint = (
            70,
            "internal",
            f"internal error: {exc!r}",
            "this is a bug in repobus; rerun with --debug and report the traceback",
        )
    if ctx.values.get("debug"):
        import traceback

        traceback.print_exception(exc, file=ctx.err)
    if ctx.json:
        from repobus.records.models import canonical

        body = {"error": message, "kind": kind, "code": code}
        if hint:
            body["hint"] = hint
        ctx.out.write(canonical(body).decode("utf-8") + "\n")
        ctx.out.flush()
    else:
        ctx.err.write(f"error: {message}\n")
        if hint:
            ctx.err.write(f"hint: {hint}\n")
    return code
