"""Records: every example of FORMATS.md reads as it is; writes keep the original shapes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repobus.errors import CorruptError
from repobus.records import models, types

ND_073 = {
    "agent_id": "codex-tier2",
    "branch": "agent/codex-tier2/nd-073",
    "claimed_at": "2025-11-09T18:47:15Z",
    "notes": "Auto-release stale claim (> threshold)",
    "plan_id": "2025-10-11-decentralized-node",
    "released_at": "2025-11-09T23:02:22Z",
    "status": "released",
    "task_id": "ND-073",
}
EVENT_LINES = [
    '{"ts":"1970-01-01T00:00:00Z","agent_id":"template","event":"init","summary":"Seed event log"}',
    '{"agent_id": "codex-1", "branch_prefix": "agent/codex-1/", "event": "handshake", '
    '"summary": "handshake", "ts": "2025-09-17T23:17:52Z"}',
    '{"agent_id": "codex-3", "branch": "agent/codex-3/queue-010", "event": "status", "plan_id": '
    '"2025-09-18-collab-support", "receipts": ["_report/agent/codex-3/collab-support/docs.json"], '
    '"severity": "medium", "summary": "Idle-agent collab workflow published", "task_id": '
    '"QUEUE-010", "ts": "2025-09-18T04:32:37Z"}',
]
MESSAGES = [
    {
        "ts": "2025-11-09T05:13:13Z",
        "from": "codex-tier2",
        "type": "assignment",
        "task_id": "QUEUE-080",
        "summary": "Assigned to codex-tier2",
        "branch": "agent/codex-tier2/teof-macro-hygiene",
        "meta": {"plan_id": "2025-11-09-teof-macro-hygiene-cli", "assignee": "codex-tier2"},
        "note": "Add teof macro_hygiene CLI",
    },
    {
        "ts": "2025-11-09T05:22:43Z",
        "from": "codex-tier2",
        "type": "reminder",
        "task_id": "manager-report",
        "summary": "Heartbeat needed for codex-1",
        "meta": {"manager_gap": "codex1"},
        "to": "manager",
    },
]
ASSIGNMENT = {
    "assigned_at": "2025-11-09T05:13:13Z",
    "branch": "agent/codex-tier2/teof-macro-hygiene",
    "engineer": "codex-tier2",
    "manager": "codex-tier2",
    "note": "Add teof macro_hygiene CLI",
    "plan_id": "2025-11-09-teof-macro-hygiene-cli",
    "task_id": "QUEUE-080",
}
MANIFEST = {
    "agent_id": "codex-2",
    "owner": "codex-2",
    "agent_type": "local-llm",
    "capabilities": ["engineering", "docs"],
    "desired_roles": ["engineer"],
    "max_prs_per_day": 0,
    "branch_prefix": "agent/codex-2/",
    "contact": "",
    "notes": "Codex-2 session in progress",
}


def test_real_claim_reads_and_writes_back_unchanged() -> None:
    claim = types.Claim.from_dict(ND_073, "ND-073.json")
    assert claim.status == "released" and claim.released_at == "2025-11-09T23:02:22Z"
    assert claim.to_dict() == ND_073
    assert models.doc_text(claim.to_dict()) == json.dumps(ND_073, indent=2, sort_keys=True) + "\n"


def test_legacy_claimed_key_is_accepted() -> None:
    legacy = {k: v for k, v in ND_073.items() if k != "claimed_at"} | {
        "claimed": "2025-01-01T00:00:00Z"
    }
    assert types.Claim.from_dict(legacy, "x").claimed_at == "2025-01-01T00:00:00Z"


@pytest.mark.parametrize("line", EVENT_LINES)
def test_real_event_lines_read_and_keep_unknown_keys(line: str) -> None:
    data = json.loads(line)
    event = types.Event.from_dict(data, "events.jsonl")
    assert event.to_dict() == data


def test_event_line_has_the_original_shape() -> None:
    data = json.loads(EVENT_LINES[2])
    assert models.event_line(data) == json.dumps(data, sort_keys=True) + "\n"


@pytest.mark.parametrize("msg", MESSAGES)
def test_real_messages_read_and_keep_insertion_order(msg: dict[str, object]) -> None:
    m = types.Message.from_dict(msg, "QUEUE-080.jsonl")
    assert m.sender == msg["from"]
    assert m.to_dict() == msg
    assert models.message_line(m.to_dict()) == json.dumps(msg, ensure_ascii=False) + "\n"


def test_assignment_and_manifest_round_trip() -> None:
    assert types.Assignment.from_dict(ASSIGNMENT, "a").to_dict() == ASSIGNMENT
    nulls = ASSIGNMENT | {"plan_id": None, "branch": None, "note": None}
    assert types.Assignment.from_dict(nulls, "a").to_dict() == nulls
    assert types.Manifest.from_dict(MANIFEST, "m").to_dict() == MANIFEST


def test_missing_field_names_the_field() -> None:
    bad = {k: v for k, v in ND_073.items() if k != "agent_id"}
    with pytest.raises(CorruptError, match="missing field 'agent_id'"):
        types.Claim.from_dict(bad, "_bus/claims/ND-073.json")


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(CorruptError, match="fencing_token"):
        types.Claim.from_dict(ND_073 | {"fencing_token": "three"}, "x")


def test_malformed_json_names_where() -> None:
    with pytest.raises(CorruptError, match=r"Invalid JSON in _bus/claims/X.json"):
        models.loads(b'{"task_id": ', "_bus/claims/X.json")


@pytest.mark.parametrize("name", sorted(types.RECORDS))
def test_schema_for_each_format(name: str) -> None:
    sch = types.schema(name)
    assert sch["type"] == "object" and sch["additionalProperties"] is True
    assert set(types.RECORDS[name].REQUIRED) <= set(sch["required"])
    assert "extra" not in sch["properties"]


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _text,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_text, kids, max_size=3),
    max_leaves=6,
)


@given(
    extra=st.dictionaries(
        _text.filter(lambda k: k not in models.CORE_EVENT_KEYS), _json, max_size=4
    ),
    summary=_text,
)
def test_event_round_trip_keeps_every_key(extra: dict[str, object], summary: str) -> None:
    data = {
        "ts": "2025-01-01T00:00:00Z",
        "agent_id": "a",
        "event": "status",
        "summary": summary,
    } | extra
    rec = types.Event.from_dict(data, "x").to_dict()
    assert rec == data
    assert models.loads(models.canonical(rec), "x") == data
    assert models.record_hash(rec) == models.record_hash(json.loads(models.event_line(rec)))


@given(
    st.datetimes(
        min_value=__import__("datetime").datetime(1000, 1, 1),
        max_value=__import__("datetime").datetime(9999, 12, 31),
    )
)
def test_time_parsing_matches_strptime(moment: object) -> None:
    from datetime import UTC, datetime

    from repobus.records import times

    text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # type: ignore[attr-defined]
    expected = int(datetime.strptime(text, times.ISO_FMT).replace(tzinfo=UTC).timestamp())
    assert times.parse_or_none(text) == expected
    assert times.fmt(expected) == text if expected >= 0 else True


@pytest.mark.parametrize(
    "bad",
    [
        "2025-02-30T00:00:00Z",
        "2025-13-01T00:00:00Z",
        "2025-01-01T24:00:00Z",
        "2025-01-01 00:00:00Z",
        "x",
        "",
    ],
)
def test_time_parsing_rejects_invalid(bad: str) -> None:
    from repobus.records import times

    assert times.parse_or_none(bad) is None


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}'])
def test_nan_and_infinity_are_invalid_json(raw: bytes) -> None:
    # found by the long fuzz run: `"agent_id": Infinity` in a claim broke status (exit 70)
    with pytest.raises(CorruptError, match="not valid JSON"):
        models.loads(raw, "x")


def test_time_parsing_remembers_dates_not_answers() -> None:
    """The date part is remembered (a reindex parses a million stamps over a few dates);
    the time of day is checked each time, and an invalid date is never remembered."""
    from repobus.records import times

    assert times.parse_or_none("2025-01-01T00:00:00Z") == 1735689600
    assert times.parse_or_none("2025-01-01T23:59:59Z") == 1735689600 + 86399
    assert times.parse_or_none("2025-01-01T24:00:00Z") is None
    assert times.parse_or_none("2025-02-29T00:00:00Z") is None
    assert times.parse_or_none("2024-02-29T00:00:00Z") == 1709164800
    assert times.parse_or_none("2025-02-29T00:00:00Z") is None
