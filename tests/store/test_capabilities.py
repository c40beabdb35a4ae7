"""The Store protocol names what a store can do (store/base.py), and every backend answers
as documented: the dir store, the git store, and the git store with a remote (file://)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from repobus.bus import Bus, open_bus
from repobus.store.base import BaseStore

CLAIM = {
    "task_id": "T-1",
    "agent_id": "a1",
    "branch": "agent/a1/t-1",
    "status": "active",
    "claimed_at": "2025-01-01T00:00:00Z",
}
EVENT = {"ts": "2025-01-01T00:00:00Z", "agent_id": "a1", "event": "status", "summary": "s"}


@pytest.fixture(params=["dir", "git", "remote"])
def backend(request: pytest.FixtureRequest) -> tuple[str, Bus]:
    """(backend name, a bus on it); `remote`: a clone set up with `init --remote origin`."""
    if request.param == "remote":
        bare = request.getfixturevalue("bare")
        (clone,) = request.getfixturevalue("make_clones")(f"file://{bare}", 1)
        return "remote", open_bus(Path(clone))
    path = request.getfixturevalue("dir_repo" if request.param == "dir" else "repo")
    return request.param, open_bus(Path(path))


def test_every_backend_inherits_the_defaults(backend: tuple[str, Bus]) -> None:
    _, bus = backend
    assert isinstance(bus.store, BaseStore)


def test_kind_is_a_label(backend: tuple[str, Bus]) -> None:
    name, bus = backend
    assert bus.store.kind == ("dir" if name == "dir" else "git")


def test_files_root_is_the_bus_directory_of_the_dir_store_only(backend: tuple[str, Bus]) -> None:
    name, bus = backend
    expected = bus.repo.root / "_bus" if name == "dir" else None
    assert bus.store.files_root == expected


def test_refs_root_names_the_ref_namespace_of_the_git_stores(backend: tuple[str, Bus]) -> None:
    name, bus = backend
    assert bus.store.refs_root == (None if name == "dir" else "refs/repobus")


def test_where_names_the_file_or_the_ref(backend: tuple[str, Bus]) -> None:
    name, bus = backend
    expected = "_bus/claims/T-1.json" if name == "dir" else "refs/repobus/claims/T-1"
    assert bus.store.where("claims", "T-1") == expected


def test_remote_name_only_with_a_remote(backend: tuple[str, Bus]) -> None:
    name, bus = backend
    assert bus.store.remote_name == ("origin" if name == "remote" else None)
    assert bus.has_remote is (name == "remote")


def test_offline_starts_false_and_takes_the_remote_out_of_the_decisions(
    backend: tuple[str, Bus],
) -> None:
    _, bus = backend
    assert bus.store.offline is False
    bus.store.offline = True
    assert bus.has_remote is False


def test_notes_start_empty(backend: tuple[str, Bus]) -> None:
    _, bus = backend
    assert bus.store.notes == []


def test_index_is_kept_by_the_git_stores_and_used_as_configured(
    backend: tuple[str, Bus],
) -> None:
    name, bus = backend
    if name == "dir":
        assert bus.store.index is None
        assert bus.store.use_index is False
        return
    index = bus.store.index
    assert index is not None
    assert index.path == bus.repo.common_dir / "repobus" / "index.sqlite3"
    assert bus.store.use_index is True  # repobus.index defaults to true


def test_git_store_without_the_index_setting_keeps_one_for_reindex(repo: Path) -> None:
    subprocess.run(["git", "config", "repobus.index", "false"], cwd=repo, check=True)
    store = open_bus(repo).store
    assert store.use_index is False
    assert store.index is not None


def test_slot_changes_list_the_live_slots_and_what_the_archive_gained(
    backend: tuple[str, Bus],
) -> None:
    name, bus = backend
    slot = bus.store.put("claims", "T-1", CLAIM, None)
    got = bus.store.slot_changes("claims", None)
    if name == "dir":
        assert got is None
        return
    assert got is not None
    live, marker, archived = got
    assert live == {"T-1": slot.version} and marker is None and archived == {}
    assert live == {s.key: s.version for s in bus.store.list("claims")}
    done = bus.store.put("claims", "T-1", dict(CLAIM, status="done"), slot)
    assert bus.store.archive_finished(force=True) == 1
    live, marker, archived = bus.store.slot_changes("claims", None)  # type: ignore[misc]
    assert live == {} and marker is not None and archived == {"T-1": done.version}
    assert bus.store.slot_changes("claims", marker) == ({}, marker, {})  # nothing new since


def test_unpushed_is_empty_once_published_and_counts_offline_records(
    backend: tuple[str, Bus],
) -> None:
    name, bus = backend
    bus.store.append("events", "a1", EVENT)
    assert bus.store.unpushed() == {}
    bus.store.offline = True
    bus.store.append("events", "a1", dict(EVENT, summary="offline"))
    assert bus.store.unpushed() == ({"events/a1": 1} if name == "remote" else {})


def test_operation_and_refresh_are_safe_on_every_backend(backend: tuple[str, Bus]) -> None:
    _, bus = backend
    slot = bus.store.put("claims", "T-1", CLAIM, None)
    with bus.store.operation():
        bus.store.refresh("claims", "T-1")
    assert bus.store.get("claims", "T-1") == slot
