"""What a read shows by default, and how a listing of claims pages: one rule, beside the lease
rule, for every door (the CLI, the lean path, the SQL index, the status snapshot, MCP, the
dashboard).  Pure functions, no I/O, no clock; nothing heavy is imported at module level (the
lean status path loads this module).

Invariants:
- a claim is *finished* when its status is one of the terminal statuses
  (records/models.py `TERMINAL_STATUSES`: done, released, ...); every other claim is *live*
  (active - held, in grace or expired, stale or not -, paused, or any other status, missing
  included) and is always shown;
- a finished claim is shown when it finished at or after the window start: its `updated_at`,
  else `claimed_at` (the `base` time the index keeps); one without a readable time is shown
  only with `--all`.  The default window is the last WINDOW seconds; `--since` moves the
  start; `--all` has no start (None) and shows every claim;
- a listing is in task-id order (code point order, which is UTF-8 byte order: SQLite's and
  Python's orders agree), at most `page_size` claims a page; a page that stops early carries
  a cursor naming the window start and the last task shown, so the next page continues the
  same listing whatever the clock says then: across pages every claim of the listing is seen
  exactly once (a claim created or finished in between may or may not show, never twice);
- a cursor is plain ASCII (`<start|all>.<task id as hex>`), safe on a command line and in a
  URL; one that does not parse is a usage error, never a silent restart.
"""

from __future__ import annotations

WINDOW = 24 * 3600  # finished claims younger than this show by default
PAGE_SIZE = 200  # claims a page holds by default
MAX_PAGE_SIZE = 10_000


def finished(status: object) -> bool:
    """Whether a claim's status is terminal: it shows only within the window."""
    from repobus.records.models import TERMINAL_STATUSES

    return isinstance(status, str) and status in TERMINAL_STATUSES


def shown(status: object, finished_at: int | None, start: int | None) -> bool:
    """Whether a claim is in the listing whose window starts at `start` (None: every claim)."""
    if start is None or not finished(status):
        return True
    return finished_at is not None and finished_at >= start


def cursor(start: int | None, key: str) -> str:
    """The token continuing a listing after task `key`."""
    return f"{'all' if start is None else start}.{key.encode('utf-8').hex()}"


def parse_cursor(token: str, option: str = "--cursor") -> tuple[int | None, str]:
    """`(start, last task shown)` of a cursor; UsageError when it is not one."""
    head, _, tail = token.strip().partition(".")
    try:
        key = bytes.fromhex(tail).decode("utf-8")
        start = None if head == "all" else int(head)
    except ValueError:
        key = ""
    if not key or (head != "all" and not head.lstrip("-").isdigit()):
        from repobus.errors import UsageError

        raise UsageError(
            f"{option} must be a cursor a previous page gave (next_cursor), got {token!r}"
        )
    return start, key


def page_size(value: int, option: str = "--page-size") -> int:
    """A page size the caller gave, checked."""
    if not 1 <= value <= MAX_PAGE_SIZE:
        from repobus.errors import UsageError

        raise UsageError(f"{option} must be between 1 and {MAX_PAGE_SIZE}, got {value}")
    return value


def since(value: str, now: int, option: str = "--since") -> int:
    """A window start given as an ISO time (2025-01-31T12:00:00Z) or as a duration before
    `now` (90m, 2h, 7d)."""
    from repobus.errors import UsageError
    from repobus.records import times

    value = value.strip()
    if times.parse_or_none(value) is not None:
        return times.parse_since(value, option)
    try:
        return now - times.parse_duration(value, option)
    except UsageError:
        raise UsageError(
            f"{option} must be an ISO time (2025-01-31T12:00:00Z) or a duration "
            f"like 90m, 2h or 7d, got {value!r}"
        ) from None


class Listing:
    """Which claims a read lists: the window start (None: all), the last task of the previous
    page (None: from the first), and the page size."""

    __slots__ = ("start", "after", "size")

    def __init__(self, start: int | None, after: str | None, size: int) -> None:
        self.start = start
        self.after = after
        self.size = size

    @classmethod
    def of(
        cls,
        now: int,
        *,
        since: int | None = None,
        all_claims: bool = False,
        cursor: str | None = None,
        size: int = PAGE_SIZE,
    ) -> Listing:
        """The listing a caller asked for: a cursor carries its own window; else `--all`,
        else `--since`, else the default window."""
        if cursor:
            start, after = parse_cursor(cursor)
            return cls(start, after, size)
        if all_claims:
            return cls(None, None, size)
        return cls(now - WINDOW if since is None else since, None, size)

    def takes(self, key: str, status: object, finished_at: int | None) -> bool:
        """Whether the claim `key` is in this listing (on this page or a later one)."""
        return (self.after is None or key > self.after) and shown(status, finished_at, self.start)

    def next_cursor(self, keys: list[str], more: bool) -> str | None:
        """The cursor after a page that listed `keys`, when `more` claims follow."""
        return cursor(self.start, keys[-1]) if more and keys else None


def finished_at(rec: dict[str, object]) -> int | None:
    """When a claim record finished (or last changed): its `updated_at`, else `claimed_at`."""
    from repobus.records.times import parse_or_none

    return parse_or_none(rec.get("updated_at") or rec.get("claimed_at"))


EVENTS_PAGE = 200  # events a page of a filtered event listing holds by default


def event_cursor(where: tuple[int, str, int] | int) -> str:
    """The token continuing an event listing (newest first) after its last row: the row's
    `(ts, chain, seq)` where the index answers, else how many rows were shown (a scan)."""
    if isinstance(where, int):
        return f"o.{where}"
    ts, chain, seq = where
    return f"k.{ts}.{seq}.{chain.encode('utf-8').hex()}"


def parse_event_cursor(token: str, option: str = "cursor") -> tuple[int, str, int] | int:
    """What `event_cursor` put in a token; UsageError when it is not one."""
    parts = token.strip().split(".")
    try:
        if parts[0] == "o" and len(parts) == 2 and int(parts[1]) >= 0:
            return int(parts[1])
        if parts[0] == "k" and len(parts) == 4:
            return int(parts[1]), bytes.fromhex(parts[3]).decode("utf-8"), int(parts[2])
    except ValueError:
        pass
    from repobus.errors import UsageError

    raise UsageError(f"{option} must be a cursor a previous page gave, got {token!r}")
