"""What every call of `repobus mcp` shares: the bus, opened wherever the server started, and
the server's one identity.

Invariants:
- the identity is pinned once (`--agent`, else `REPOBUS_AGENT`, else the manifest; at start,
  or at the first call that finds one) and never changes; whether the server may act for
  other agents is decided then too (`--allow-act-as`, or a manager by the manifest);
- a bus that cannot be opened is tried again at the next call; until then every call is
  answered `not_set_up`, saying how to point the server at a repository.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, cast

from repobus.bus import Bus
from repobus.errors import BusError, SetupError
from repobus.playbook import doors, session
from repobus.records import names
from repobus.views import overview as views

ACT_HINT = (
    "leave out `agent` to act as yourself; acting for others needs a server started with "
    "`repobus mcp --allow-act-as` (or a manager's manifest), and is recorded"
)
NOT_SET_UP = (
    "repobus mcp has no repository to serve ({why}); it serves the repository of its "
    "working directory ({cwd})"
)
WHERE_HINT = (
    "restart the server pointed at a repository: `repobus mcp --repo PATH`, or REPOBUS_REPO=PATH "
    "in its environment, or start the client in the repository (Codex starts servers in "
    "~/.codex when no thread is open: name the repository in its server entry)"
)
WHO_HINT = (
    "restart it with `repobus mcp --agent ID` or REPOBUS_AGENT=ID in its environment, or "
    "write the worktree's manifest with `repobus init --agent ID`"
)

Json = dict[str, Any]


class Tools:
    """What every tool call shares: the bus (opened on first use, again at each call until it
    opens), the server's pinned identity, the lock that runs the calls one at a time, and the
    overrides given at start (a stale session, acting for others)."""

    def __init__(
        self,
        opener: Callable[[], Bus],
        agent: str | None,
        env_agent: str | None,
        allow_stale: bool,
        allow_act_as: bool = False,
        where: str = ".",
    ) -> None:
        self._opener, self._bus = opener, cast("Bus | None", None)
        self.agent, self.env_agent, self.where = agent, env_agent, where
        self.allow_stale, self.allow_act_as = allow_stale, allow_act_as
        self.me: str | None = None  # pinned once known, never changed
        self.may_act_for = allow_act_as
        self.lock = threading.Lock()

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            try:
                self._bus = self._opener()
            except SetupError as exc:
                why = NOT_SET_UP.format(why=exc.message, cwd=self.where)
                raise SetupError(why, hint=WHERE_HINT) from None
        return self._bus

    def start(self) -> None:
        """Open the bus and pin the identity now, when both can be: a failure is answered
        at each call instead (the handshake must complete wherever the server started)."""
        with contextlib.suppress(BusError):
            self.mine()

    def mine(self) -> str:
        """The server's own agent id: resolved once, then fixed for the server's life."""
        if self.me is None:
            root = self.bus.repo.root
            try:
                self.me = session.resolve_agent(root, self.agent, self.env_agent)
            except SetupError as exc:
                why = f"this server has no usable agent id: {exc.message}"
                raise SetupError(why, hint=WHO_HINT) from None
            self.may_act_for = self.allow_act_as or self.me in session.manager_candidates(root)
        return self.me

    def who(self, given: str | None) -> str:
        """Whom a write is for: `agent` when given (the use case judges it), else the server."""
        return names.agent_id(given) if given and given.strip() else self.mine()

    def take_in(self) -> None:
        """Before every tool call, as before every CLI command: lines an agent appended by
        hand to the worktree's `_bus/` log files (the playbook's step 8) are taken in, as the
        server's agent, or the call is refused naming the line (playbook/intake.py); files
        edited by hand are written again from the bus.  A `stat` per log file when none."""
        from repobus.playbook import intake

        try:
            agent: str | None = self.mine()
        except SetupError:
            agent = None  # the worktree's manifest decides, as for the CLI
        bus = self.bus
        quiet = intake.Quiet.serving(
            bus, "repobus mcp", "(lines appended to _bus/)", allow_stale=self.allow_stale
        )
        edited = intake.take_in(bus, quiet, agent)
        if edited:
            intake.restore(bus, edited)

    def door(self, tool: str) -> doors.Door:
        """One tool call through the use-case layer: the session guard judges the identity
        that really acts, against the repository's policy as it is now."""
        acting = doors.Acting(self.mine(), allowed=self.may_act_for, hint=ACT_HINT)
        return doors.Door.serving(
            self.bus, "repobus mcp", tool, allow_stale=self.allow_stale, acting=acting
        )

    def slot_view(self, slot: Any) -> Json:
        rec = views.claim_view(self.bus, slot, self.bus.clock())
        return {k: v for k, v in rec.items() if k != "_path"}
