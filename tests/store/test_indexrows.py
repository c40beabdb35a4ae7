"""The log rows of the derived index (store/indexrows.py): a record comes back byte for byte
from its encoded form and its row's columns, whatever the record and the columns hold."""

from __future__ import annotations

import hashlib
import json
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from repobus.records import models
from repobus.records.times import parse_or_none
from repobus.store import indexrows, sql

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
fields = st.sampled_from(
    ["agent_id", "event", "summary", "task_id", "ts", "seq", "from", "to", "type", "prev_hash"]
)
values = st.one_of(texts, st.integers(-5, 10**6), st.none(), st.lists(texts, max_size=2))
records = st.dictionaries(st.one_of(fields, texts), values, max_size=8)
column = st.one_of(st.none(), texts, st.sampled_from(["agent-1", "note", "T-1", '"', ","]))


def _hash(i: int) -> str:
    return "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()


def roundtrip(
    line: bytes, who: object, name: object, task: object, seq: object, ts: object
) -> None:
    enc = indexrows.encode(line, who, name, task, seq, ts)  # type: ignore[arg-type]
    assert indexrows.text(enc, who, name, task, seq, ts) == line.decode()  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(
    rec=records,
    who=column,
    name=column,
    task=column,
    seq=st.one_of(st.none(), st.integers(-3, 10**9)),
    ts=st.one_of(st.none(), st.integers(-(10**6), 4 * 10**9)),
    hashed=st.integers(0, 3),
)
def test_any_record_comes_back_byte_for_byte(rec, who, name, task, seq, ts, hashed) -> None:  # type: ignore[no-untyped-def]
    if hashed:
        rec["prev_hash"] = _hash(hashed) if hashed < 3 else _hash(1).upper()
    if ts is not None and hashed % 2:
        rec["ts"] = indexrows.ts_text(ts).decode().strip('"') if indexrows.ts_text(ts) else "x"
    for line in (
        models.canonical(rec),
        json.dumps(rec).encode(),
        json.dumps(rec, indent=1).encode(),
    ):
        roundtrip(line, who, name, task, seq, ts)


def test_token_bytes_in_values_and_hand_made_lines() -> None:
    rec = {
        "agent_id": "a\x01",
        "event": "e",
        "prev_hash": _hash(1),
        "seq": 3,
        "ts": "2026-01-01T00:00:00Z",
    }
    line = models.canonical(rec)
    for who in ("a\x01", "\x01", '","', "agent_id", "sha256", "3"):
        roundtrip(line, who, "e", "\x1e", 3, 1767225600)
    roundtrip(b'{"a":"\t"}', "a", None, None, None, None)  # a raw control byte: kept as text
    assert isinstance(indexrows.encode(b'{"a":"\t"}', None, None, None, None, None), str)
    raw = b'{"agent_id":"a","event":"e","seq":1,"summary":"\x01","task_id":"t","ts":"x"}'
    db = sqlite3.connect(":memory:")
    db.executescript(sql.DDL)
    assert indexrows.event_row(indexrows.Names(db), b"ab" * 20, b"a", raw, None) is None


def test_an_event_shrinks_to_what_the_columns_do_not_hold() -> None:
    rec = {
        "agent_id": "agent-104",
        "event": "note",
        "prev_hash": _hash(7),
        "seq": 243,
        "summary": "note #50000 by agent-104",
        "task_id": "T-03670",
        "ts": "2026-11-15T06:07:40Z",
    }
    line = models.canonical(rec)
    ts = parse_or_none(rec["ts"])
    enc = indexrows.encode(line, "agent-104", "note", "T-03670", 243, ts)
    assert isinstance(enc, bytes) and len(enc) <= 64 < len(line) // 3
    assert indexrows.text(enc, "agent-104", "note", "T-03670", 243, ts) == line.decode()
    assert len(indexrows.PHRASES) + 6 <= 32  # every token is a byte below 0x20
    db = sqlite3.connect(":memory:")
    db.executescript(sql.DDL)
    fast = indexrows.event_row(indexrows.Names(db), b"ab" * 20, b"agent-104", line, None)
    assert fast is not None and fast[-1] == enc and fast[3:5] == (243, ts)


event_texts = st.one_of(
    st.sampled_from(["agent-1", "note", "T-1", "", "é", 'a"b', "a\\b", "\u2028", "007"]), texts
)


@settings(max_examples=300, deadline=None)
@given(
    agent=event_texts,
    event=event_texts,
    task=event_texts,
    summary=event_texts,
    seq=st.one_of(st.integers(0, 10**12), st.sampled_from(["007", "-1", "1.0"])),
    ts=st.one_of(
        st.sampled_from(["2026-11-15T06:07:40Z", "2026-02-30T00:00:00Z", "1960-01-01T00:00:00Z"]),
        texts,
    ),
    hashed=st.booleans(),
    ascii_only=st.booleans(),
)
def test_an_event_read_from_its_text_is_the_row_its_record_gives(  # type: ignore[no-untyped-def]
    agent, event, task, summary, seq, ts, hashed, ascii_only
) -> None:
    """`event_row` (no JSON parse) gives the row `row` gives from the parsed record, or
    declines; and every line it takes is valid JSON."""
    rec = {"agent_id": agent, "event": event, "seq": 0, "summary": summary, "task_id": task}
    if hashed:
        rec["prev_hash"] = _hash(5)
    rec["ts"] = ts
    line = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)
    number = str(seq)
    line = line.replace('"seq":0', f'"seq":{number}').encode()
    oid = hashlib.sha1(line).hexdigest()
    db = sqlite3.connect(":memory:")
    db.executescript(sql.DDL)
    names = indexrows.Names(db)
    fast = indexrows.event_row(names, oid.encode(), b"agent-1", line, None)
    if fast is None:
        return
    rec = json.loads(line)  # it was JSON
    assert fast == indexrows.row(names, oid, "agent-1", rec, line, None)
    who, name, task_ = rec["agent_id"], rec["event"], rec["task_id"]
    assert indexrows.text(fast[-1], who, name, task_, fast[3], fast[4]) == line.decode()
