"""Errors of the bus, each carrying the exit code the CLI reports for it.

Nothing below the CLI prints or exits: code raises one of these and the CLI's single error
boundary turns it into a one-line `error:` message, an optional `hint:` line and the exit code.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


class BusError(Exception):
    """Base of every expected failure.  `code` is the process exit code."""

    code = 70
    kind = "internal"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class CheckFailed(BusError):
    code = 1
    kind = "check_failed"


class UsageError(BusError):
    code = 2
    kind = "usage"


class ConflictError(BusError):
    """Held by another agent, a stale fencing token, or a compare-and-swap lost."""

    code = 3
    kind = "conflict"


class StaleTokenError(ConflictError):
    kind = "stale_token"


class LockedError(ConflictError):
    """A ref or file lock is held: by a racer (retry) or left by a crashed writer."""

    kind = "locked"


class NotFoundError(BusError):
    code = 4
    kind = "not_found"


class SetupError(BusError):
    """No repository, no manifest, no session, an extra not installed."""

    code = 5
    kind = "not_set_up"


class NotAllowedError(SetupError):
    """A write for another agent through a door not started for it (an MCP server acts as
    its own agent unless started with --allow-act-as or for a manager)."""

    kind = "not_allowed"


class RemoteError(BusError):
    code = 6
    kind = "remote"


class AuthError(RemoteError):
    """The remote refused the credentials or the permission to push (HTTP 401/403, ssh
    "Permission denied").  Retrying cannot help; nothing was changed at the remote."""

    code = 7
    kind = "auth"


class RefusedError(RemoteError):
    """The remote refused the ref itself: a server hook, a ruleset, a `receive.deny*` setting.
    Retrying cannot help; nothing was changed at the remote."""

    code = 8
    kind = "refused"


class UnknownOutcomeError(RemoteError):
    """A push whose outcome could not be learned (the connection died after the remote may
    have applied it, and re-reading the remote failed too)."""

    code = 9
    kind = "unknown"


class StorageError(BusError):
    """The disk said no: full, over quota, read-only.  Nothing was changed."""

    code = 74
    kind = "storage"


class CorruptError(BusError):
    """A stored record cannot be read (malformed JSON, missing field)."""

    code = 1
    kind = "corrupt"


class GitError(BusError):
    """git itself failed in a way the caller did not expect."""

    code = 70
    kind = "git"

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr
        why = git_reason(stderr)
        super().__init__(f"git {' '.join(self.argv[1:3])} failed ({returncode}): {why}")


def git_reason(stderr: str) -> str:
    """git's reason, the one rule every error wrapping git uses: the last `fatal:`/`error:`
    line (git's first line is often context, e.g. "Preparing worktree ...", its last the
    cause), else the last non-empty line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errs = [
        ln
        for ln in lines
        if ln.startswith(("fatal:", "error:")) and "failed to push some refs" not in ln
    ]
    if errs:
        return errs[-1]
    return lines[-1] if lines else "no message from git"


class CasFailed(Exception):
    """A compare-and-swap lost: the stored version was not the one expected.

    Internal to the store layer; `bus` re-reads and decides, so it never reaches the CLI.
    `current` is the version the store saw when it found out, when it read it (saves the
    caller a read): a Slot, or None for "does not exist"; `known` says whether it is set.
    """

    def __init__(self, what: str, current: object = None, known: bool = False) -> None:
        super().__init__(what)
        self.current = current
        self.known = known
