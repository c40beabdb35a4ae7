"""What a failed network git said, classified once for every caller: a lost lease
(contention), a refused credential or permission, a ref the server refuses, an unreachable
remote or a timeout, and a transport failure whose outcome is unknown (GIT-FACTS.md, "Refusals
have their own words").  Only the first is contention; the errors raised name the words of
whoever refused.  (Plain classes, not dataclasses: importing dataclasses costs a claim ~10 ms.)
"""

from __future__ import annotations

from repobus.errors import AuthError, RefusedError, RemoteError, git_reason

# Words of a transport failure that happened before the remote could have applied anything.
_NOT_CONNECTED = (
    "Could not resolve host",
    "Couldn't connect to server",
    "Failed to connect",
    "Connection refused",
    "unable to connect",
    "No route to host",
    "Name or service not known",
    "does not appear to be a git repository",
    "not found",
)
TRANSIENT = (
    "Connection reset",
    "early EOF",
    "unexpected disconnect",
    "the remote end hung up",
    "Broken pipe",
    "RPC failed",
    "Empty reply from server",
    "transfer closed",
    "Recv failure",
    "Send failure",
)
# A lost compare-and-swap, in the words of `git push --porcelain`: only these are contention.
CONTENTION = (
    "stale info",
    "fetch first",
    "non-fast-forward",
    "already exists",
    "incorrect old value",
    "cannot lock ref",
    "failed to lock",
    "failed to update ref",
)
NEUTRAL = ("atomic push failed", "atomic transaction failed")


def _auth_reason(stderr: str) -> str | None:
    """What git says when the remote refused who we are or what we may do; None otherwise."""
    low = stderr.lower()
    if "authentication failed" in low or "returned error: 401" in low or "http 401" in low:
        return "the remote refused the credentials (authentication failed)"
    if "could not read username" in low or "could not read password" in low:
        return "the remote asked for credentials and none are configured"
    if "returned error: 403" in low or "http 403" in low or "403 forbidden" in low:
        return "the remote refused permission to push (HTTP 403: a read-only credential?)"
    if "permission denied (publickey" in low or "permission denied, please try again" in low:
        return "the remote refused the ssh key (Permission denied)"
    if "permission to " in low and " denied" in low:
        return "the remote refused permission to push"
    return None


def _said(stderr: str, words: tuple[str, ...]) -> str | None:
    """The first line of `stderr` holding one of `words` (lower case), as it was written."""
    for line in stderr.splitlines():
        if any(w in line.lower() for w in words):
            return line.strip()
    return None


class Failure:
    """Why a network git call failed, classified once for every caller.  (Plain classes here,
    not dataclasses: importing dataclasses costs a claim ~10 ms of start-up.)"""

    __slots__ = ("kind", "message", "server")

    def __init__(self, kind: str, message: str, server: list[str] | None = None) -> None:
        self.kind = kind  # "auth" | "refused" | "timeout" | "unreachable" | "transport"
        self.message = message  # git's own last meaningful line
        self.server = server or []  # the remote's own `remote:` lines

    def __repr__(self) -> str:
        return f"Failure({self.kind}: {self.message})"

    @property
    def certain_nothing_applied(self) -> bool:
        """True when the remote cannot have applied a change (we never reached it, or it said
        no); False when the outcome of a push is unknown."""
        return self.kind in ("auth", "refused", "unreachable")

    def said(self) -> str:
        """The server's own words when it gave any, else git's."""
        return "; ".join(self.server) if self.server else self.message

    def error(self, remote: str, what: str, unchanged: bool = False) -> RemoteError:
        """The error to raise for this failure of `what` (e.g. "push of refs/repobus/...");
        `unchanged`: the caller knows nothing was written anywhere, and says so."""
        tail = "; nothing was changed" if unchanged else ""
        if self.kind == "auth":
            return AuthError(
                f"remote '{remote}' refused the {what}: {self.message}"
                + (f" (the server said: {'; '.join(self.server)})" if self.server else "")
                + tail,
                hint="check this clone's credential for the remote (docs/remote.md, "
                "'Credentials'): each agent should have its own, allowed to push refs/repobus/*",
            )
        if self.kind == "refused":
            return RefusedError(
                f"remote '{remote}' refused the {what}: {self.said()}{tail}",
                hint="the server (a hook, a ruleset or a receive.deny* setting) does not accept "
                "refs/repobus/*; ask its administrator to allow them (docs/remote.md, 'Hosting')",
            )
        offline = (
            "; or pass --offline to record a local-only change that the next `repobus sync` "
            "confirms or rejects"
            if unchanged
            else ""
        )
        if self.kind == "timeout":
            return RemoteError(
                f"remote '{remote}' did not answer the {what} within repobus.remoteTimeout "
                f"({self.message}){tail}",
                hint="retry when the remote answers (`git config repobus.remoteTimeout 60s` to "
                f"wait longer){offline}",
            )
        return RemoteError(
            f"remote '{remote}' is unreachable ({self.message}){tail}",
            hint=f"check the network and `git remote -v`, then retry{offline}",
        )


def server_lines(stderr: str) -> list[str]:
    """The remote's own words: `remote: …` lines, without git's padding and progress."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("remote:"):
            text = line[len("remote:") :].strip()
            if text and not text.startswith(("Counting", "Compressing", "Resolving", "Total")):
                out.append(text)
    return out


def classify(stderr: str) -> Failure:
    """Classify a failed network git call from its stderr."""
    server = server_lines(stderr)
    message = last_error(stderr)
    auth = _auth_reason(stderr)
    if auth is not None:
        said = _said(stderr, ("permission denied",))  # ssh's own line, not git's "fatal: …"
        if said and said not in message:
            message = f"{said}; {message}"
        return Failure("auth", f"{auth}: {message}" if message not in auth else auth, server)
    if "timed out after" in stderr:
        return Failure("timeout", message, server)
    if any(t in stderr for t in _NOT_CONNECTED):
        return Failure("unreachable", message, server)
    return Failure("transport", message, server)


class PushResult:
    __slots__ = ("ok", "failure", "accepted", "rejected", "refused")

    def __init__(self, ok: bool, failure: Failure | None = None) -> None:
        self.ok = ok
        self.failure = failure  # the push as a whole failed (no per-ref verdict)
        self.accepted: set[str] = set()
        self.rejected: dict[str, str] = {}  # lost the lease (contention)
        self.refused: dict[str, str] = {}  # the server refused the ref

    @property
    def transport_error(self) -> str | None:
        return self.failure.message if self.failure is not None else None

    def raise_refusal(self, remote: str, what: str) -> None:
        """Raise AuthError/RefusedError when the remote refused (retrying cannot help)."""
        if self.failure is not None and self.failure.kind in ("auth", "refused"):
            raise self.failure.error(remote, what)
        if self.refused:
            ref, why = next(iter(sorted(self.refused.items())))
            raise Failure("refused", why, self.failure.server if self.failure else []).error(
                remote, f"{what} ({ref})"
            )


def last_error(stderr: str) -> str:
    """git's reason (the rule lives with GitError in errors.py, so every wrapper shares it)."""
    return git_reason(stderr)


class FetchResult:
    __slots__ = ("updated", "refused", "stuck", "missing")

    def __init__(
        self,
        updated: list[str],
        refused: dict[str, str],
        stuck: dict[str, str] | None = None,
        missing: bool = False,
    ) -> None:
        self.updated = updated
        self.refused = refused
        self.stuck = stuck or {}
        self.missing = missing  # a ref asked for by name is not on the remote
