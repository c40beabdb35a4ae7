"""A chain the remote rewound (shorter than the tracked one) is refused and named by `sync`
(exit 1, docs/remote.md), while a fetched tip that is merely older news -- a tracking ref our
own push moved on during the fetch -- is skipped silently (issue 16, item 8).  Real git."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import git

from repobus.bus import open_bus
from repobus.store import incoming

Clones = Callable[[str, int], list[Path]]
REF = "refs/repobus/events/a1"


def _three_records(bare: Path, make_clones: Clones) -> tuple[Path, Path]:
    a, b = make_clones(f"file://{bare}", 2)
    bus_a = open_bus(a)
    for i in range(3):
        bus_a.log("a1", "note", f"n{i}")
    open_bus(b).store.sync()  # type: ignore[attr-defined]
    return a, b


def test_sync_refuses_a_rewound_remote_chain(bare: Path, make_clones: Clones, cli) -> None:  # type: ignore[no-untyped-def]
    _, b = _three_records(bare, make_clones)
    tracked = git(b, "rev-parse", "refs/repobus-remote/origin/events/a1")
    git(bare, "update-ref", REF, f"{REF}~1")  # the remote drops the last record
    res = cli("sync", cwd=b)
    assert res.code == 1, (res.out, res.err)
    assert f"rewound {REF}" in res.err
    # this clone keeps its copy, and its tracking ref keeps the longer chain
    assert git(b, "rev-parse", "refs/repobus-remote/origin/events/a1") == tracked
    assert len(open_bus(b).store.tail("events")) == 3
    assert cli("sync", cwd=b).code == 1  # still named on the next sync


def test_an_older_tip_than_our_own_push_is_not_truncation(bare: Path, make_clones: Clones) -> None:
    a, b = _three_records(bare, make_clones)
    store = open_bus(b).store
    remote = store.remote  # type: ignore[attr-defined]
    tip = git(b, "rev-parse", "refs/repobus-remote/origin/events/a1")
    older = git(b, "rev-parse", f"{tip}~1")
    # the fetch asked while the tracking ref held `older`; our push moved it to `tip` since;
    # the fetch brings `older` (what the remote held when it answered)
    git(b, "update-ref", "refs/repobus-remote/origin/events/a1", tip)
    got = incoming.integrate(remote, {"events/a1": older}, False, {"events/a1": older})
    assert got.refused == {} and got.updated == []
    assert git(b, "rev-parse", "refs/repobus-remote/origin/events/a1") == tip
    # the same fetched tip, when the tracking ref held `tip` before the fetch asked: rewound
    got = incoming.integrate(remote, {"events/a1": older}, False, {"events/a1": tip})
    assert list(got.refused) == [REF]
