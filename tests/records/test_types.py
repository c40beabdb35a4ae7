"""Typed records at the store boundary: every write is checked before anything is written,
every read is checked and named when damaged, and a check never changes a record (the hash
chain hashes its canonical JSON).  The three declarations of a record's fields - the Structs,
the TypedDicts and records/required.FIELDS - are held equal here."""

from __future__ import annotations

import json
import shutil
import subprocess
import typing
from pathlib import Path

import msgspec
import pytest
from conftest import git, unchanged

from repobus.bus import open_bus
from repobus.errors import CorruptError, UsageError
from repobus.records import layout, models, required, types

TEOF = Path(__file__).resolve().parents[3] / "shared" / "data" / "teof-bus" / "_bus"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_TOKEN = {str: "str", int: "int", list: "[str]", dict: "{}"}


def _token(tp: object) -> str:
    """A field's type as records/required.FIELDS spells it."""
    args = typing.get_args(tp)
    nullable = type(None) in args
    base = next((a for a in args if a is not type(None)), tp) if args else tp
    if typing.get_origin(base) is typing.Union or isinstance(base, type(int | None)):
        base = typing.get_args(base)[0]
    origin = typing.get_origin(base) or base
    return _TOKEN[origin] + ("?" if nullable else "")  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(types.RECORDS))
def test_the_structs_the_typeddicts_and_the_table_declare_the_same_fields(name: str) -> None:
    cls = types.RECORDS[name]
    hints = typing.get_type_hints(cls)
    struct = {
        cls.RENAMES.get(f.name, f.name): _token(hints[f.name])
        for f in msgspec.structs.fields(cls)
        if f.name != "extra"
    }
    td = types.DICTS[name]
    dict_hints = typing.get_type_hints(td)
    typed = {k: _token(v) for k, v in dict_hints.items()}
    assert struct == typed == required.FIELDS[name]
    full = typing.get_type_hints(td, include_extras=True)  # NotRequired kept
    needed = {k for k, v in full.items() if typing.get_origin(v) is not typing.NotRequired}
    assert needed == set(required.REQUIRED[name])


# -- round trips ------------------------------------------------------------------------------


def _busy(path: Path) -> None:
    """One record of every kind, written by the bus."""
    bus = open_bus(path)
    bus.assign("mgr", "T-1", "a1", plan="P-1", note="go")
    bus.claim("a1", "T-1", notes="n")
    bus.log("a1", "status", "half", task="T-1", receipts=["_report/x.json"], extra={"k": "v"})
    bus.send("a1", "T-1", "note", "hello", to="mgr", meta={"x": 1})
    bus.release("a1", "T-1", notes="done")


def _stored(path: Path) -> dict[str, list[dict[str, object]]]:
    store = open_bus(path).store
    return {
        "claims": [s.record for s in store.history("claims", "T-1")],
        "assignments": [s.record for s in store.history("assignments", "T-1")],
        "events": [e.record for e in store.tail("events")],
        "messages": [e.record for e in store.tail("messages")],
    }


def test_every_record_kind_round_trips_byte_identically(any_repo: Path) -> None:
    _busy(any_repo)
    stored = _stored(any_repo)
    assert all(stored.values()), stored
    for kind, recs in stored.items():
        name = required.RECORD_OF[kind]
        for rec in recs:
            before = models.canonical(rec)
            assert required.on_read(name, rec, "x") is rec
            required.on_write(name, rec, "x")
            assert models.canonical(rec) == before
            typed = types.RECORDS[name].from_dict(rec, "x")  # the Struct reads it whole
            assert models.canonical(typed.to_dict()) == before


def _on_disk(kind: str) -> list[dict[str, object]]:
    """The records of `kind` in the data set, as json reads them (an inbox line that repeats a
    thread's message is its copy, left out; one kept only in an inbox is a message)."""
    out = []
    inboxes = []
    for p in (TEOF / kind).glob(layout.FILES[kind]):
        if kind in layout.SLOT_KINDS:
            out.append(json.loads(p.read_text(encoding="utf-8")))
            continue
        lines = p.read_text(encoding="utf-8").splitlines()
        recs = [json.loads(line) for line in lines if line.strip()]
        if kind == "messages" and layout.is_inbox(p.stem):
            inboxes += recs
        else:
            out += recs
    out += [r for r in inboxes if r not in out]
    return sorted(out, key=models.canonical)


def test_the_original_tools_records_read_unchanged(tmp_path: Path, repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    if not TEOF.is_dir():
        pytest.skip("the teof-bus data set is not beside this checkout")
    git(repo, "config", "repobus.backend", "dir")
    shutil.copytree(TEOF, repo / "_bus")
    store = open_bus(repo).store
    read = {kind: [s.record for s in store.list(kind)] for kind in layout.SLOT_KINDS} | {
        kind: [e.record for e in store.tail(kind)] for kind in layout.LOG_KINDS
    }
    on_disk = {kind: _on_disk(kind) for kind in read}
    for kind, recs in read.items():
        assert sorted(recs, key=models.canonical) == on_disk[kind], kind  # unknown keys kept
    assert sum(map(len, read.values())) > 400
    res = cli("status", "--json", "--all", cwd=repo)
    assert res.code == 0, res.err


# -- writes ---------------------------------------------------------------------------------

CLAIM = {
    "task_id": "T-1",
    "agent_id": "a1",
    "branch": "agent/a1/t-1",
    "status": "active",
    "claimed_at": "2025-01-01T00:00:00Z",
}
EVENT = {"ts": "2025-01-01T00:00:00Z", "agent_id": "a1", "event": "note", "summary": "s"}
WRONG = [
    ("claims", dict(CLAIM, fencing_token="7"), "fencing_token", "a whole number or null"),
    ("claims", dict(CLAIM, fencing_token=True), "fencing_token", "a whole number or null"),
    ("claims", dict(CLAIM, plan_id=["P-1"]), "plan_id", "a string or null"),
    ("events", dict(EVENT, receipts="_report/x.json"), "receipts", "a list of strings"),
    ("events", dict(EVENT, receipts=[1]), "receipts", "a list of strings"),
    (
        "messages",
        {**EVENT, "from": "a1", "type": "note", "task_id": "T-1", "to": 5},
        "to",
        "a string or null",
    ),
]


def _objects(repo: Path) -> str:
    return subprocess.run(
        ["git", "count-objects", "-v"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(("kind", "rec", "field", "says"), WRONG)
def test_a_wrongly_typed_write_is_refused_and_nothing_is_written(
    any_repo: Path, kind: str, rec: dict[str, object], field: str, says: str
) -> None:
    store = open_bus(any_repo).store
    objects = _objects(any_repo)
    with unchanged(any_repo), pytest.raises(UsageError) as err:
        if kind in layout.SLOT_KINDS:
            store.put(kind, "T-1", rec, None)
        else:
            store.append(kind, "a1", rec)
    assert f"field '{field}' must be {says}" in err.value.message
    named = err.value.message.split(":")[0]  # the record and where it was to be written
    assert named.split()[0] == required.RECORD_OF[kind].capitalize()
    assert named.split()[1].startswith((f"refs/repobus/{kind}/", f"_bus/{kind}/")), named
    assert "nothing was written" in (err.value.hint or "")
    assert _objects(any_repo) == objects  # not even a loose git object


def test_the_git_store_names_the_ref_of_a_refused_write(repo: Path) -> None:
    store = open_bus(repo).store
    with pytest.raises(UsageError) as err:
        store.put("claims", "T-1", {k: v for k, v in CLAIM.items() if k != "branch"}, None)
    assert err.value.message == "Claim refs/repobus/claims/T-1 missing field 'branch'"


# -- reads ----------------------------------------------------------------------------------


def _forge(repo: Path, ref: str, text: str) -> str:
    parent = subprocess.run(
        ["git", "rev-parse", "-q", "--verify", ref], cwd=repo, capture_output=True, text=True
    ).stdout.strip()
    args = ["commit-tree", *(["-p", parent] if parent else []), "-m", text, EMPTY_TREE]
    oid = git(repo, *args)
    git(repo, "update-ref", ref, oid)
    return oid


def test_a_damaged_git_record_is_named_where_it_is(repo: Path) -> None:
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    oid = _forge(repo, "refs/repobus/claims/T-1", json.dumps(dict(CLAIM, seq=[2])))
    with pytest.raises(CorruptError) as err:
        bus.store.get("claims", "T-1")
    assert err.value.message.startswith(f"Claim refs/repobus/claims/T-1@{oid[:12]} holds a ")
    assert "damaged seq [2]: expected a whole number or null" in err.value.message
    with pytest.raises(CorruptError, match="damaged seq"):
        bus.claim("a2", "T-1")
    assert git(repo, "rev-parse", "refs/repobus/claims/T-1") == oid  # nothing decided on it


def test_a_damaged_git_event_is_named_when_read_without_the_index(repo: Path) -> None:
    git(repo, "config", "repobus.index", "false")
    bus = open_bus(repo)
    bus.log("a1", "note", "one")
    oid = _forge(repo, "refs/repobus/events/a1", json.dumps(dict(EVENT, summary=3)))
    with pytest.raises(CorruptError) as err:
        bus.store.tail("events")
    assert err.value.message == (
        f"Event commit {oid[:12]} holds a damaged summary 3: expected a string"
    )


def test_a_damaged_dir_record_is_named_with_its_file(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(dir_repo)
    bus.log("a1", "note", "one")
    log = dir_repo / "_bus" / layout.EVENTS_LOG
    log.write_text(log.read_text() + json.dumps(dict(EVENT, fencing_token="x")) + "\n")
    with pytest.raises(CorruptError) as err:
        bus.store.tail("events")
    assert err.value.message.startswith("Event _bus/events/events.jsonl holds a damaged")
    res = cli("log", "--event", "note", "--summary", "two", cwd=dir_repo, agent="a1")
    assert res.code == 0, res.err  # appending does not read the damaged line's fields
    with pytest.raises(CorruptError, match="damaged fencing_token 'x'"):
        open_bus(dir_repo).store.tail("events", limit=5)


def test_a_legacy_claim_with_null_optional_fields_reads(dir_repo: Path) -> None:
    path = dir_repo / "_bus" / "claims" / "T-1.json"
    path.parent.mkdir(parents=True)
    legacy = {k: v for k, v in CLAIM.items() if k != "claimed_at"} | {
        "claimed": CLAIM["claimed_at"],
        "plan_id": None,
        "custom": {"kept": [1, 2]},
    }
    path.write_text(json.dumps(legacy, indent=2) + "\n")
    slot = open_bus(dir_repo).store.get("claims", "T-1")
    assert slot is not None and slot.record == legacy
    bad = dict(legacy, claimed=5)
    assert required.wrong_type("claim", bad) == "claimed"
