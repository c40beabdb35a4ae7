"""The storage protocol every backend implements, and the values it trades in.

The bus keeps two shapes of state:
- *slots*: one current record per key with its full history (claims/<task>,
  assignments/<task>); written only by compare-and-swap against the version read;
- *logs*: append-only streams (events, messages), one chain per writer; appends never
  contend across writers and never lose a record under concurrent writers of one chain.

Every record written carries `prev_hash`, the hash of the record before it in its chain, so
`verify` can prove nothing was edited, dropped or reordered.  The store sets it; callers don't.

A store names what it can do (files_root, refs_root, remote_name, offline, notes, index,
use_index, where, slot_changes, unpushed, archive_finished): callers above store/ use those
members and never ask what class a store is or branch on its `kind`, a label for people only.
`BaseStore` holds the answers of a local store with neither files nor refs of its own; each
backend inherits it and overrides what differs.
"""

from __future__ import annotations

import builtins

from repobus.records.layout import LOG_KINDS as LOG_KINDS
from repobus.records.layout import SLOT_KINDS as SLOT_KINDS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path
    from typing import Any, Protocol

    from repobus.store.index import Index

else:
    Protocol = object


class Slot:
    """One version of a slot: the record and an opaque version token for compare-and-swap."""

    __slots__ = ("kind", "key", "record", "version")

    def __init__(self, kind: str, key: str, record: dict[str, Any], version: str) -> None:
        self.kind = kind
        self.key = key
        self.record = record
        self.version = version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Slot) and (self.kind, self.key, self.record, self.version) == (
            other.kind,
            other.key,
            other.record,
            other.version,
        )

    def __repr__(self) -> str:
        return f"Slot({self.kind}/{self.key}@{self.version[:12]})"


class Entry:
    """One record of a log, with the chain (writer or file) it belongs to and its position."""

    __slots__ = ("record", "chain", "pos")

    def __init__(self, record: dict[str, Any], chain: str, pos: str) -> None:
        self.record = record
        self.chain = chain
        self.pos = pos

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and (self.record, self.chain, self.pos) == (
            other.record,
            other.chain,
            other.pos,
        )

    def __repr__(self) -> str:
        return f"Entry({self.chain}@{self.pos}: {self.record!r})"


class Problem:
    """A broken link found by `verify`: which chain, which record, what is wrong."""

    __slots__ = ("chain", "where", "what")

    def __init__(self, chain: str, where: str, what: str) -> None:
        self.chain = chain
        self.where = where
        self.what = what

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and (self.chain, self.where, self.what) == (
            other.chain,
            other.where,
            other.what,
        )

    def __repr__(self) -> str:
        return f"Problem({self.chain}: {self.where}: {self.what})"


class Store(Protocol):
    kind: str
    """A label for people ("git", "dir"); never branch on it: use the members below."""

    offline: bool
    """With a remote: record writes in this clone, the next `sync` confirms them or reports
    who won.  A store without a remote ignores it."""

    notes: builtins.list[str]
    """What the person should know about the operations so far (records queued, offline
    changes); the CLI prints them after the command."""

    use_index: bool
    """Reads answer from the derived index (the `repobus.index` setting); False without one."""

    @property
    def files_root(self) -> Path | None:
        """The `_bus/` directory of plain files this store reads and writes; None when the
        records live elsewhere (then the `_bus/` mirror shows them)."""
        ...

    @property
    def refs_root(self) -> str | None:
        """The ref namespace whose commits hold the records (`refs/repobus`): git objects to
        keep, ref lock files a killed writer can leave; None when they are not kept in refs."""
        ...

    @property
    def remote_name(self) -> str | None:
        """The git remote that arbitrates every write; None for a store with no remote."""
        ...

    @property
    def index(self) -> Index | None:
        """The derived index this store can keep (`reindex` rebuilds it); None when the
        backend keeps none.  Whether reads use it is `use_index`."""
        ...

    def where(self, kind: str, key: str) -> str:
        """How a person finds one slot: its file under `_bus/` or its ref."""
        ...

    def slot_changes(
        self, kind: str, since: str | None
    ) -> tuple[dict[str, str], str | None, dict[str, str]] | None:
        """For a reader that keeps a copy of the slots (the `_bus/` mirror), without reading
        a record: the live slots of `kind` (key -> version), a marker of the archive now,
        and the archived slots (key -> version) that changed since the marker `since` (all
        of them when None).  None when only `list` can tell."""
        ...

    def unpushed(self) -> dict[str, int]:
        """Records of this clone the remote does not hold yet, per chain; empty without one."""
        ...

    def archive_finished(
        self, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Move finished slots out of the live records (store/archive.py) once a batch of them
        is waiting, or now with `force`; how many moved.  Reads are the same afterwards.  A
        store that keeps no refs has nothing to move (0).  `progress(done, total)` is called as
        batches land."""
        ...

    def get(self, kind: str, key: str) -> Slot | None: ...

    def put(self, kind: str, key: str, record: dict[str, Any], expect: Slot | None) -> Slot:
        """Write `record` if the slot is still at `expect` (None: must not exist).

        Raises CasFailed otherwise; nothing is written then.
        """
        ...

    def list(self, kind: str) -> builtins.list[Slot]: ...

    def history(self, kind: str, key: str) -> builtins.list[Slot]: ...

    def append(
        self, kind: str, writer: str, record: dict[str, Any], guard: Slot | None = None
    ) -> Entry:
        """Append to `writer`'s chain of `kind`; with `guard`, only while that slot is unchanged.

        Raises CasFailed when the guard slot moved; nothing is written then.  A store may
        advance the guard slot itself (the remote store records a heartbeat on the claim in
        the same atomic push): read the slot again before writing it.
        """
        ...

    def tail(
        self,
        kind: str,
        limit: int | None = None,
        since: int | None = None,
        writers: Iterable[str] | None = None,
    ) -> builtins.list[Entry]:
        """The newest `limit` records (all when None) at or after `since`, oldest first."""
        ...

    def heads(self, kind: str) -> dict[str, str]:
        """A cheap fingerprint of every chain's tip, to notice new records."""
        ...

    def signature(self, kind: str) -> tuple[int, ...]:
        """Changes whenever a record of `kind` is added (cheap to poll: a few stat calls)."""
        ...

    def since_heads(
        self, kind: str, old: dict[str, str]
    ) -> tuple[builtins.list[Entry], dict[str, str]]:
        """The records added after `old` heads, oldest first, and the new heads."""
        ...

    def verify(self) -> Iterator[Problem]: ...

    def refresh(self, kind: str, key: str) -> None:
        """Bring one slot up to date with the authority (the remote); no-op when local."""
        ...

    def operation(self) -> AbstractContextManager[None]:
        """One logical operation (a claim, a log): with a remote, every network call inside
        shares one time budget, `repobus.remoteTimeout`; a no-op for local stores."""
        ...


class BaseStore:
    """The answers of a local store with no files or refs of its own and no index: no remote
    (never offline, nothing unpushed, nothing to refresh, no network time to budget).  The
    backends inherit it and override what differs."""

    kind: str
    use_index = False

    def __init__(self) -> None:
        self.offline = False
        self.notes: list[str] = []

    @property
    def files_root(self) -> Path | None:
        return None

    @property
    def refs_root(self) -> str | None:
        return None

    @property
    def remote_name(self) -> str | None:
        return None

    @property
    def index(self) -> Index | None:
        return None

    def slot_changes(
        self, kind: str, since: str | None
    ) -> tuple[dict[str, str], str | None, dict[str, str]] | None:
        return None

    def unpushed(self) -> dict[str, int]:
        return {}

    def archive_finished(
        self, force: bool = False, progress: Callable[[int, int], None] | None = None
    ) -> int:
        return 0

    def refresh(self, kind: str, key: str) -> None:
        """Bring one slot up to date with the authority: without a remote, it is this one."""

    def operation(self) -> AbstractContextManager[None]:
        """A local store spends no time on the network: nothing to budget."""
        from contextlib import nullcontext

        return nullcontext()
