"""The derived index: caught up incrementally, equal to a full rebuild after any sequence of
operations from several processes, never the source of truth."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import claims_of_every_kind, git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from racers import op_workers

from repobus.bus import open_bus
from repobus.store import indexrows
from repobus.store.index import Index

AGENTS = ("a1", "a2", "a3")
TASKS = ("T-0", "T-1", "T-2")
op = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["claim", "renew", "pause", "release", "log", "log", "send"]),
        "agent": st.sampled_from(AGENTS),
        "task": st.sampled_from(TASKS),
        "proc": st.integers(0, 2),
        "read": st.booleans(),
    }
)


def snapshot(index: Index) -> tuple[object, ...]:
    index.catch_up()
    db = index.db()
    return (
        db.execute("SELECT kind, key, oid, record FROM slots ORDER BY kind, key").fetchall(),
        logs(db),
        db.execute("SELECT ref, oid FROM heads ORDER BY ref").fetchall(),
    )


def logs(db: object) -> list[tuple[object, ...]]:
    """Every log row with its texts (ids differ between a catch-up and a rebuild) and its
    record decoded."""
    decode = indexrows.decoder(9)
    rows = db.execute(  # type: ignore[attr-defined]
        "SELECT lower(hex(l.oid)), l.kind, c.text, l.seq, l.ts, w.text, n.text, t.text, "
        f"l.dest, {indexrows.RECORD} FROM {indexrows.LOGS} ORDER BY l.oid"
    )
    return [(*r[:9], decode(r)) for r in rows]


class Workers:
    def __init__(self, repo: Path, n: int) -> None:
        self.procs = op_workers(repo, n)

    def run(self, i: int, operation: dict[str, object]) -> str:
        p = self.procs[i]
        p.stdin.write(json.dumps(operation) + "\n")  # type: ignore[union-attr]
        p.stdin.flush()  # type: ignore[union-attr]
        return p.stdout.readline().strip()  # type: ignore[union-attr]

    def close(self) -> None:
        for p in self.procs:
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(20)
            p.stdout.close()  # type: ignore[union-attr]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=st.lists(op, min_size=1, max_size=25))
def test_index_equals_full_rebuild(tmp_path_factory, ops: list[dict[str, object]]) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("idx")
    repo = base / "repo"
    git(base, "init", "-q", "-b", "main", str(repo))
    workers = Workers(repo, 3)
    live = Index(open_bus(repo).store)  # type: ignore[arg-type]
    try:
        for o in ops:
            workers.run(int(o["proc"]), o)  # type: ignore[call-overload]
            if o["read"]:
                live.catch_up()  # reads interleaved with writes from other processes
    finally:
        workers.close()
    incremental = snapshot(live)
    live.close()
    rebuilt = Index(open_bus(repo).store)  # type: ignore[arg-type]
    rebuilt.path = base / "rebuilt.sqlite3"
    assert snapshot(rebuilt) == incremental


def test_catch_up_reads_nothing_when_no_ref_moved(repo: Path) -> None:
    bus = open_bus(repo)
    bus.log("a1", "note", "one")
    index = bus.store.index  # type: ignore[attr-defined]
    index.catch_up()
    import os
    import time

    old = time.time() - 5  # age the ref directories so the signature is trusted
    for p in (repo / ".git/refs/repobus", repo / ".git/refs/repobus/events"):
        os.utime(p, (old, old))
    index.catch_up()
    assert index.catch_up() == 0
    bus.log("a1", "note", "two")
    assert index.catch_up() == 1


def test_rewritten_chain_is_reread(repo: Path) -> None:
    bus = open_bus(repo)
    for i in range(3):
        bus.log("a1", "note", f"n{i}")
    assert [e.record["summary"] for e in bus.store.tail("events")] == ["n0", "n1", "n2"]
    first = git(repo, "rev-list", "--reverse", "refs/repobus/events/a1").split()[0]
    git(repo, "update-ref", "refs/repobus/events/a1", first)
    assert [e.record["summary"] for e in bus.store.tail("events")] == ["n0"]


def test_deleted_ref_is_forgotten_and_index_is_not_the_source(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    bus = open_bus(repo)
    bus.claim("a1", "T-1")
    bus.claim("a1", "T-2")
    assert len(bus.store.list("claims")) == 2
    git(repo, "update-ref", "-d", "refs/repobus/claims/T-2")
    assert [s.key for s in bus.store.list("claims")] == ["T-1"]
    (repo / ".git/repobus/index.sqlite3").write_bytes(b"garbage, not sqlite")
    for suffix in ("-wal", "-shm"):
        Path(f"{repo}/.git/repobus/index.sqlite3{suffix}").unlink(missing_ok=True)
    status = cli("status", "--json", cwd=repo)  # a damaged index is rebuilt, not trusted
    assert status.code == 0 and [c["task_id"] for c in status.json["claims"]] == ["T-1"]  # type: ignore[index]
    res = cli("reindex", "--json", cwd=repo)
    assert res.code == 0 and res.json["claims"] == 1  # type: ignore[index]


def test_status_json_from_the_index_equals_the_python_view(repo: Path) -> None:
    import json as _json

    from repobus.bus import with_config
    from repobus.views import overview as views

    git(repo, "config", "repobus.leaseGrace", "5")
    bus = open_bus(repo)
    base = bus.clock()
    claims_of_every_kind(bus)
    legacy = (
        '{"agent_id":"old","branch":"agent/old/t","claimed_at":"2020-01-01T00:00:00Z",'
        '"status":"active","task_id":"T-legacy"}\n'
    )
    oid = (
        subprocess.run(
            ["git", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"],
            cwd=repo,
            input=legacy.encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    git(repo, "update-ref", "refs/repobus/claims/T-legacy", oid)
    bus.log("a1", "status", "hello", task="T-active")
    for shift in (0, 3, 10, 7200):
        later = with_config(bus)
        later.clock = lambda shift=shift: base + shift  # type: ignore[misc]
        for opts in ({}, {"agents": ["a1"]}, {"active_only": True}, {"agents": ["a2", "old"]}):
            fast = _json.loads(views.status_json(later, limit=5, **opts))  # type: ignore[arg-type]
            slow = views.status(later, limit=5, **opts)  # type: ignore[arg-type]
            assert fast == _json.loads(_json.dumps(slow)), (shift, opts)
