"""The lease rule and the stale rule (records/lease.py): the states a claim goes through, the
time left that is never negative, who may take a claim over, and the views every door builds
from them (the bus, the index's stored views, the snapshot) agreeing byte for byte."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from repobus.records import lease, models
from repobus.store import snapshot

GRACE = 60


def test_an_active_claim_goes_active_then_in_grace_then_expired() -> None:
    end = 1000
    seen = {now: lease.fields("active", end, now, GRACE) for now in (900, 1000, 1001, 1060, 1061)}
    assert seen == {
        900: ("active", 100),
        1000: ("active", 0),
        1001: ("in_grace", 0),
        1060: ("in_grace", 0),
        1061: ("expired", None),
    }


def test_a_claim_not_active_shows_its_status_and_no_time_left() -> None:
    for status in ("paused", "done", "released", "closed"):
        assert lease.fields(status, 1000, 5000, GRACE) == (status, None)


def test_a_status_repobus_does_not_know_is_held_with_no_end() -> None:
    """`in_progress`, `pending` (the original tools' own), a damaged or missing status: held by
    its holder, never free by time alone, never finished."""
    for status in ("in_progress", "pending", "", None, ["active"], 3, "expired", "held"):
        assert lease.unknown(status) and lease.leased(status)
        for now in (0, 10**9):
            assert lease.fields(status, 1000, now, GRACE) == ("held", None)
            assert lease.state(status, 1000, now, GRACE) in lease.HELD
        assert (
            lease.record_end({"status": status, "claimed_at": "2025-11-08T23:38:21Z"}, 60) is None
        )
    for known in ("active", "paused", "done", "released", "closed", "cancelled", "abandoned"):
        assert not lease.unknown(known)


def test_a_held_claim_of_unknown_status_is_stale_and_pausable_only_after_silence() -> None:
    silence = 900
    assert not lease.may_pause("in_progress", None, 1000, 1000 + silence - 1, GRACE, silence)
    assert lease.may_pause("in_progress", None, 1000, 1000 + silence, GRACE, silence)
    assert lease.may_pause("pending", None, None, 0, GRACE, silence)  # never heard from
    assert lease.is_stale("in_progress", 0, 3600, 3600)
    assert not lease.is_stale("in_progress", 1, 3600, 3600)
    assert lease.pausable_from(None, 1000, GRACE, silence) == 1000 + silence


def test_the_lease_end_of_a_claim_written_before_leases_is_the_default_ttl() -> None:
    assert lease.record_end({"lease_expires_at": "1970-01-01T00:16:40Z"}, 7200) == 1000
    legacy = {"claimed_at": "1970-01-01T00:00:10Z"}
    assert lease.record_end(legacy, 7200) == 7210
    assert lease.record_end({**legacy, "updated_at": "1970-01-01T00:01:40Z"}, 50) == 150
    assert lease.record_end({"lease_expires_at": "soon"}, 7200) is None
    assert lease.fields("active", None, 10**12, GRACE) == ("active", None)  # never runs out


@given(
    end=st.none() | st.integers(-(10**6), 10**6),
    now=st.integers(-(10**6), 10**6),
    grace=st.integers(0, 10**4),
    status=st.sampled_from(["active", "paused", "done", "released", "in_progress", "", None]),
)
def test_time_left_is_never_negative_and_only_expired_is_free(
    end: int | None, now: int, grace: int, status: str | None
) -> None:
    state, left = lease.fields(status, end, now, grace)
    assert left is None or left >= 0
    timed = state in (lease.ACTIVE, lease.IN_GRACE)  # `held` (unknown status) has no end
    assert (left is not None) == (timed and end is not None)
    assert (state in lease.HELD) == (lease.leased(status) and state != lease.EXPIRED)
    if state == "in_grace":
        assert left == 0 and end is not None and end < now <= end + grace
    if status == "active":
        assert state in ("active", "in_grace", "expired")
        assert (state == "expired") == (end is not None and now > end + grace)


def test_stale_is_an_active_claim_whose_holder_was_silent_for_the_window() -> None:
    assert lease.is_stale("active", None, 100, 3600)  # never heard from
    assert lease.is_stale("active", 0, 3600, 3600)
    assert not lease.is_stale("active", 1, 3600, 3600)
    assert not lease.is_stale("paused", 0, 10**6, 3600)
    assert not lease.is_stale("done", None, 10**6, 3600)
    assert lease.is_stale("active", 3600, 3600, 0)  # a zero window: every active claim


_KEYS = st.sampled_from(
    ["agent_id", "status", "lease_seconds_left", "lease_state", "lease_sf", "_path", "Zed", "1"]
)
_VALUES = st.none() | st.integers() | st.text(max_size=5) | st.lists(st.integers(), max_size=2)


@given(
    rec=st.dictionaries(_KEYS, _VALUES, max_size=6),
    status=st.sampled_from(["active", "paused", "done", "in_progress", None]),
    now=st.integers(0, 3000),
)
def test_the_stored_view_fills_to_the_bytes_of_the_python_view(
    rec: dict[str, Any], status: str | None, now: int
) -> None:
    """What the index stores for a claim, completed at read time, is byte for byte the
    canonical JSON of the view the Python path builds (any keys, any order)."""
    rec = {**rec, "status": status, "lease_expires_at": "1970-01-01T00:16:40Z"}
    end = lease.record_end(rec, 7200)
    want = models.canonical(
        snapshot.claim_dict("T-1", rec, *lease.fields(status, end, now, GRACE))
    ).decode()
    view = snapshot.claim_view("T-1", rec)
    if view is None:  # a key between the two lease fields: the reader builds it instead
        assert "lease_sf" in rec and status == "active"
        return
    got = snapshot.lease_fill(view, end, now, GRACE) if status == "active" else view
    assert got == want
    assert json.loads(got)["lease_state"] == lease.state(status, end, now, GRACE)
