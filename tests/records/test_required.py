"""One table of required fields (records/required.py): the typed records agree with it, and
`check`, the dir backend and the bus refuse a record lacking the same field."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from conftest import git, unchanged

from repobus.bus import open_bus
from repobus.errors import CorruptError, UsageError
from repobus.records import layout, required, types

TS = "2025-01-01T00:00:00Z"
VALID = {
    "claims": {
        "task_id": "T-1",
        "agent_id": "a1",
        "branch": "agent/a1/t-1",
        "status": "active",
        "claimed_at": TS,
    },
    "assignments": {"task_id": "T-1", "engineer": "e1", "manager": "m1", "assigned_at": TS},
    "events": {"ts": TS, "agent_id": "a1", "event": "note", "summary": "s"},
    "messages": {"ts": TS, "from": "a1", "type": "note", "task_id": "T-1", "summary": "s"},
}
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def test_every_record_kind_has_one_row() -> None:
    assert set(required.REQUIRED) == set(types.RECORDS)
    assert set(required.RECORD_OF.values()) | {"manifest"} == set(required.REQUIRED)
    assert set(required.RECORD_OF) == {*layout.SLOT_KINDS, *layout.LOG_KINDS}


@pytest.mark.parametrize("name", sorted(types.RECORDS))
def test_the_structs_require_exactly_the_table(name: str) -> None:
    cls = types.RECORDS[name]
    assert required.REQUIRED[name] == cls.REQUIRED
    no_default = {
        cls.RENAMES.get(f.name, f.encode_name)
        for f in msgspec.structs.fields(cls)
        if f.required and f.name != "extra"
    }
    assert no_default == set(required.REQUIRED[name])
    assert types.schema(name)["required"] == sorted(required.REQUIRED[name])


def _cases() -> list[tuple[str, str, str]]:
    """(store kind, field, how it is lacking): every required field, absent and blank."""
    out = []
    for kind, rec in VALID.items():
        name = required.RECORD_OF[kind]
        assert set(rec) == set(required.REQUIRED[name])
        for field in required.REQUIRED[name]:
            out.append((kind, field, "absent"))
            if field not in required.MAY_BE_EMPTY.get(name, ()):
                out.append((kind, field, "blank"))
    return out


CASES = _cases()


def _lacking(kind: str, field: str, how: str) -> dict[str, object]:
    rec = dict(VALID[kind])
    if how == "absent":
        del rec[field]
    else:
        rec[field] = " "
    return rec


def _write_by_hand(root: Path, kind: str, rec: dict[str, object]) -> str:
    """Put `rec` where the original tools would have, as they would have; its path."""
    rel = (
        layout.slot_file(kind, "T-1")
        if kind in layout.SLOT_KINDS
        else layout.log_files(kind, VALID[kind])[0]
    )
    path = root / layout.BUS_DIR / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rec, indent=2) if kind in layout.SLOT_KINDS else json.dumps(rec)
    path.write_text(text + "\n")
    return layout.bus_path(rel)


@pytest.mark.parametrize(("kind", "field", "how"), CASES)
def test_check_names_the_missing_field(
    dir_repo: Path,
    cli,  # type: ignore[no-untyped-def]
    kind: str,
    field: str,
    how: str,
) -> None:
    where = _write_by_hand(dir_repo, kind, _lacking(kind, field, how))
    res = cli("check", "--json", cwd=dir_repo)
    assert res.code == 1, res.out
    errors = res.json["errors"]  # type: ignore[index]
    assert any(e.startswith(where) and field in e for e in errors), errors


@pytest.mark.parametrize(("kind", "field", "how"), CASES)
def test_the_dir_backend_refuses_to_write_it(
    dir_repo: Path, kind: str, field: str, how: str
) -> None:
    store = open_bus(dir_repo).store
    rec = _lacking(kind, field, how)
    name = required.RECORD_OF[kind]
    with unchanged(dir_repo), pytest.raises(UsageError) as err:
        if kind in layout.SLOT_KINDS:
            store.put(kind, "T-1", rec, None)
        else:
            store.append(kind, "a1", rec)
    assert f"{name.capitalize()} _bus/" in err.value.message
    assert err.value.message.endswith(f"missing field '{field}'")


@pytest.mark.parametrize("field", required.REQUIRED["claim"])
@pytest.mark.parametrize("how", ["absent", "blank"])
def test_the_bus_decides_nothing_on_a_claim_lacking_it(
    dir_repo: Path, field: str, how: str
) -> None:
    _write_by_hand(dir_repo, "claims", _lacking("claims", field, how))
    bus = open_bus(dir_repo)
    want = required.refusal("claim", "_bus/claims/T-1.json", field)
    with unchanged(dir_repo):
        for attempt in (
            lambda: bus.claim("a2", "T-1"),
            lambda: bus.pause("a2", "T-1", notes="n"),
            lambda: bus.release("a1", "T-1"),
            lambda: bus.log("a1", "status", "s", task="T-1"),
        ):
            with pytest.raises(CorruptError) as err:
                attempt()
            assert err.value.message == want


def test_the_git_backend_bus_names_the_ref(repo: Path) -> None:
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    ref = f"{layout.ROOT}/claims/T-1"
    damaged = json.dumps({k: v for k, v in VALID["claims"].items() if k != "claimed_at"})
    tip = git(repo, "rev-parse", ref)
    git(repo, "update-ref", ref, git(repo, "commit-tree", "-p", tip, "-m", damaged, EMPTY_TREE))
    with pytest.raises(CorruptError) as err:
        bus.claim("a2", "T-1")
    assert err.value.message == f"Claim {ref} missing field 'claimed_at'"


def test_the_legacy_claimed_key_stands_in_everywhere(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    legacy = {k: v for k, v in VALID["claims"].items() if k != "claimed_at"} | {"claimed": TS}
    _write_by_hand(dir_repo, "claims", legacy)
    assert required.missing("claim", legacy) == []
    assert types.Claim.from_dict(legacy, "x").claimed_at == TS
    assert cli("check", cwd=dir_repo).code == 0
    assert open_bus(dir_repo).pause("a1", "T-1", notes="n").record["status"] == "paused"


def test_an_empty_event_summary_is_a_value(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    rec = VALID["events"] | {"summary": "", "event": ""}
    assert required.missing("event", rec) == []
    open_bus(dir_repo).store.append("events", "a1", rec)
    assert cli("check", cwd=dir_repo).code == 0
    assert types.Event.from_dict(rec, "x").summary == ""
