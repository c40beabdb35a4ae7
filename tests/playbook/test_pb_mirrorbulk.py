"""The mirror's first fill writes byte for byte what the one-at-a-time forms write: a claim
file is `models.doc_text`, an events line `models.event_line`, for any record - canonical or
not, with floats, escapes, nested and empty containers, non-ASCII text."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from repobus.records import models
from repobus.views import mirrorbulk

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
RECORDS = st.dictionaries(st.text(max_size=8), VALUES, max_size=6)

ODD = [
    {},
    {"a": {}, "b": [], "c": [1, {"d": []}]},
    {"summary": 'quote " backslash \\ newline \n tab \t bell \x07'},
    {"summary": "é ü 漢字 \u2028 \x7f \U0001f600"},
    {"f": 1e16, "g": -0.0, "h": 0.1, "i": 1e-07, "n": 2**64 + 1, "m": -(2**63)},
    {"b": True, "a": False, "z": None},
]


def _texts(rec: dict[str, Any]) -> list[str]:
    """The texts a record may be stored as: canonical (what repobus writes), and forms other
    writers might leave (unsorted keys, spaces, ASCII escapes)."""
    return [
        models.canonical(rec).decode("utf-8"),
        json.dumps(rec, sort_keys=False),
        json.dumps(dict(reversed(list(rec.items())))),
        json.dumps(rec, sort_keys=True, ensure_ascii=True, separators=(",", ":")),
    ]


def _same(rec: dict[str, Any]) -> None:
    assert mirrorbulk.doc_bytes(rec) == models.doc_text(rec).encode("utf-8")
    texts = _texts(rec)
    want = [models.event_line(json.loads(t)).encode("utf-8") for t in texts]
    assert list(mirrorbulk.event_lines(texts)) == want


def test_odd_records_are_written_as_the_one_rule_writes_them() -> None:
    for rec in ODD:
        _same(rec)


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_any_record_is_written_as_the_one_rule_writes_it(rec: dict[str, Any]) -> None:
    _same(rec)


def test_a_duplicate_key_reads_as_the_standard_parser_reads_it() -> None:
    text = '{"a":1,"a":2}'
    assert list(mirrorbulk.event_lines([text])) == [b'{"a": 2}\n']
