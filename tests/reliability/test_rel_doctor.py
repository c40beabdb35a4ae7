"""Part 8 - `repobus doctor [--fix]`: git version, config, refspecs, hooks, leftover locks (in
every bus namespace) and temporary objects, index freshness, clock skew against the remote;
--fix does what is safe and says what it did."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from rel_lab import EMPTY_TREE, Outcome, cli, clone, git, new_bare, new_repo


def doctor(repo: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code, out, err = cli("doctor", "--json", *extra, cwd=repo)
    assert "Traceback" not in err, err
    return code, json.loads(out)


def finding(report: dict[str, Any], check: str) -> list[dict[str, str]]:
    return [f for f in report["findings"] if f["check"] == check]


def level(report: dict[str, Any], check: str) -> str:
    order = {"ok": 0, "warning": 1, "problem": 2}
    return max((f["level"] for f in finding(report, check)), key=order.__getitem__)


def age(path: Path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    bare = new_bare(tmp_path / "served" / "bus.git")
    c = clone(f"file://{bare}", tmp_path / "c")
    assert cli("log", "--event", "note", "--summary", "x", cwd=c, agent="a1")[0] == 0
    return bare, c


def test_a_healthy_clone_is_all_ok(pair: tuple[Path, Path]) -> None:
    _, c = pair
    git(c, "add", ".repobus.toml")  # healthy: the clone's .repobus.toml is committed
    git(c, "commit", "-q", "-m", "use repobus")
    code, rep = doctor(c)
    assert code == 0 and rep["ok"], rep
    checks = {f["check"] for f in rep["findings"]}
    assert {
        "git",
        "config",
        "refspec",
        "hooks",
        "locks",
        "quarantine",
        "temp objects",
        "index",
        "clock",
    } <= checks
    assert [f for f in rep["findings"] if f["level"] != "ok"] == []


def test_lock_files_in_every_bus_namespace_are_found_and_fixed(pair: tuple[Path, Path]) -> None:
    _, c = pair
    gd = c / ".git"
    old = [
        gd / "refs/repobus/claims/T-1.lock",
        gd / "refs/repobus-remote/origin/events/a1.lock",
        gd / "refs/repobus-incoming/origin/claims/T-2.lock",
        gd / "packed-refs.lock",
    ]
    young = gd / "refs/repobus/events/a1.lock"
    for p in [*old, young]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("")
    for p in old:
        age(p)
    code, rep = doctor(c)
    assert code == 1 and level(rep, "locks") == "problem"
    detail = finding(rep, "locks")[0]["detail"]
    assert "5 lock file(s)" in detail and "4 older than" in detail and "doctor --fix" in detail
    code, rep = doctor(c, "--fix")
    detail = finding(rep, "locks")[0]["detail"]
    # the first doctor's fetch (for the clock check) already cleared the stale packed-refs.lock,
    # as every fetch now does when it cleans up; --fix removes the rest
    assert "fixed: removed 3 stale lock file(s)" in detail and "1 younger" in detail, detail
    assert "packed-refs.lock" not in detail
    assert not any(p.exists() for p in old) and young.exists()
    young.unlink()
    assert doctor(c)[0] == 0


def test_a_stale_lock_on_a_tracking_ref_is_recovered_by_normal_commands(
    pair: tuple[Path, Path],
) -> None:
    bare, c = pair
    lock = c / ".git/refs/repobus-remote/origin/events/a1.lock"
    lock.write_text("")
    age(lock)
    assert cli("log", "--event", "note", "--summary", "y", cwd=c, agent="a1")[0] == 0
    code, _, err = cli("sync", cwd=c)
    tracking = git(c, "rev-parse", "refs/repobus-remote/origin/events/a1")
    assert tracking == git(bare, "rev-parse", "refs/repobus/events/a1") or code != 0, err


def test_doctor_fix_recovers_a_tracking_ref_lock_so_sync_works(pair: tuple[Path, Path]) -> None:
    bare, c = pair
    lock = c / ".git/refs/repobus-remote/origin/events/a1.lock"
    lock.write_text("")
    age(lock)
    assert cli("log", "--event", "note", "--summary", "y", cwd=c, agent="a1")[0] == 0
    assert doctor(c, "--fix")[0] == 0
    assert cli("sync", cwd=c)[0] == 0
    assert git(c, "rev-parse", "refs/repobus-remote/origin/events/a1") == git(
        bare, "rev-parse", "refs/repobus/events/a1"
    )


def test_bad_config_values_are_named(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    assert cli("init", "--agent", "a1", "--no-remote", cwd=repo)[0] == 0
    git(repo, "config", "repobus.ttl", "soon")
    git(repo, "config", "repobus.lockStale", "0")
    git(repo, "config", "repobus.remote", "nowhere")
    code, rep = doctor(repo)
    details = " | ".join(f["detail"] for f in finding(rep, "config"))
    assert code == 1 and "repobus.ttl='soon' is not a duration" in details
    assert "lockStale=0s" in details and "repobus.remote='nowhere' names no git remote" in details


@pytest.mark.parametrize(
    "spec,bad",
    [
        ("+refs/repobus/*:refs/remotes/origin-repobus/*", True),
        ("+refs/*:refs/*", True),
        ("+refs/heads/*:refs/remotes/origin/*", False),
        ("refs/repobus/*:refs/repobus/*", False),
    ],
)
def test_forced_refspecs_that_overwrite_bus_refs_are_problems(
    pair: tuple[Path, Path], spec: str, bad: bool
) -> None:
    _, c = pair
    git(c, "config", "--add", "remote.origin.fetch", spec)
    code, rep = doctor(c)
    flagged = [f for f in finding(rep, "refspec") if spec in f["detail"]]
    assert bool(flagged) == bad, rep
    assert (code == 1) == bad


def test_mirror_remote_and_layout_1_refspec(pair: tuple[Path, Path]) -> None:
    _, c = pair
    git(c, "config", "remote.origin.mirror", "true")
    git(c, "config", "--add", "remote.origin.fetch", "refs/repobus/*:refs/remotes/origin-repobus/*")
    code, rep = doctor(c)
    details = " | ".join(f["detail"] for f in finding(rep, "refspec"))
    assert code == 1 and "mirror=true" in details and "(layout 1)" in details
    code, rep = doctor(c, "--fix")
    assert "fixed: removed refs/repobus/*" in " | ".join(f["detail"] for f in rep["findings"])
    assert "origin-repobus" not in git(c, "config", "--get-all", "remote.origin.fetch")
    git(c, "config", "--unset", "remote.origin.mirror")
    assert doctor(c)[0] == 0


def test_hooks(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    code, rep = doctor(repo)
    assert "no pre-push hook" in finding(rep, "hooks")[0]["detail"]
    assert cli("init", "--hooks", "--agent", "a1", "--no-remote", cwd=repo)[0] == 0
    hook = Path(git(repo, "rev-parse", "--git-path", "hooks/pre-push"))
    hook = hook if hook.is_absolute() else repo / hook
    assert level(doctor(repo)[1], "hooks") == "ok"
    hook.chmod(0o644)
    code, rep = doctor(repo)
    assert code == 1 and "not executable" in finding(rep, "hooks")[0]["detail"]
    code, rep = doctor(repo, "--fix")
    assert "fixed: made" in finding(rep, "hooks")[0]["detail"] and os.access(hook, os.X_OK)
    text = hook.read_text()
    hook.write_text(
        "\n".join(
            "PY=/nonexistent/python" if ln.startswith("PY=") else ln for ln in text.splitlines()
        )
        + "\n"
    )
    code, rep = doctor(repo)
    assert "/nonexistent/python" in finding(rep, "hooks")[0]["detail"]
    hook.write_text("#!/bin/sh\nexit 0\n")
    assert "not repobus's" in finding(doctor(repo)[1], "hooks")[0]["detail"]


def test_index_freshness_and_rebuild(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    assert cli("log", "--event", "note", "--summary", "x", cwd=repo, agent="a1")[0] == 0
    assert cli("status", cwd=repo)[0] == 0
    assert "up to date" in finding(doctor(repo)[1], "index")[0]["detail"]
    oid = git(
        repo,
        "commit-tree",
        EMPTY_TREE,
        "-m",
        '{"agent_id":"b1","event":"note",'
        '"seq":1,"summary":"behind the index","ts":"2026-01-01T00:00:00Z"}',
    )
    git(repo, "update-ref", "refs/repobus/events/b1", oid)
    code, rep = doctor(repo)
    assert level(rep, "index") == "ok" and "1 ref(s) behind" in finding(rep, "index")[0]["detail"]
    code, rep = doctor(repo, "--fix")
    assert "fixed: caught the index up" in finding(rep, "index")[0]["detail"]
    assert "up to date" in finding(doctor(repo)[1], "index")[0]["detail"]
    (repo / ".git/repobus/index.sqlite3").write_bytes(b"this is not a database" * 100)
    for suffix in ("-wal", "-shm"):
        Path(f"{repo}/.git/repobus/index.sqlite3{suffix}").unlink(missing_ok=True)
    code, rep = doctor(repo)
    assert code == 1 and "unreadable" in finding(rep, "index")[0]["detail"]
    code, rep = doctor(repo, "--fix")
    assert "rebuilt it from the refs" in finding(rep, "index")[0]["detail"], rep
    assert "behind the index" in cli("status", cwd=repo)[1]


def test_temporary_objects_left_by_killed_writers(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    tmp = repo / ".git/objects/ab/tmp_obj_123_deadbeef"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(b"partial")
    age(tmp)
    assert level(doctor(repo)[1], "temp objects") == "warning"
    assert "removed 1" in finding(doctor(repo, "--fix")[1], "temp objects")[0]["detail"]
    assert not tmp.exists()


def test_clock_skew_against_the_remote(pair: tuple[Path, Path]) -> None:
    bare, c = pair
    future = int(time.time()) + 3600
    env = dict(os.environ, GIT_COMMITTER_DATE=f"{future} +0000", GIT_AUTHOR_DATE=f"{future} +0000")
    rec = '{"agent_id":"z9","event":"note","seq":1,"summary":"future","ts":"2030-01-01T00:00:00Z"}'
    oid = subprocess.run(
        ["git", "commit-tree", EMPTY_TREE, "-m", rec],
        cwd=bare,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    git(bare, "update-ref", "refs/repobus/events/z9", oid.strip())
    code, rep = doctor(c)
    clock = finding(rep, "clock")[0]
    assert clock["level"] == "warning" and "ahead of this clock" in clock["detail"], clock
    git(c, "remote", "set-url", "origin", "file:///nonexistent/bus.git")
    clock = finding(doctor(c)[1], "clock")[0]
    assert clock["level"] == "warning" and "cannot reach the remote" in clock["detail"]


def test_doctor_on_the_dir_backend(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    assert cli("init", "--backend", "dir", "--agent", "a1", cwd=repo)[0] == 0
    code, rep = doctor(repo)
    assert code == 0 and "flocks" in finding(rep, "locks")[0]["detail"]


def run(workdir: Path) -> Outcome:
    """For the runner: the doctor tests above, counted."""
    import inspect
    import sys

    out = Outcome(
        "doctor",
        "git, config, refspecs, hooks, locks (all bus namespaces), fetch quarantines, "
        "temp objects, index freshness, clock skew; --fix",
    )
    mod = sys.modules[__name__]
    for n, (name, fn) in enumerate(sorted(inspect.getmembers(mod, inspect.isfunction))):
        if not name.startswith("test_") or hasattr(fn, "pytestmark"):
            continue
        d = workdir / f"{n:02d}"
        args: dict[str, Any] = {}
        params = inspect.signature(fn).parameters
        if "pair" in params:
            bare = new_bare(d / "served" / "bus.git")
            c = clone(f"file://{bare}", d / "c")
            cli("log", "--event", "note", "--summary", "x", cwd=c, agent="a1")
            args["pair"] = (bare, c)
        if "tmp_path" in params:
            args["tmp_path"] = d
        out.trials += 1
        try:
            fn(**args)
        except AssertionError as exc:
            out.fail(f"{name}: {str(exc)[:300]}")
    return out


def test_fetch_quarantines_of_killed_processes_are_deleted(pair: tuple[Path, Path]) -> None:
    _, c = pair
    gone = subprocess.Popen(["true"])
    gone.wait()
    tip = git(c, "rev-parse", "refs/repobus/events/a1")
    dead = f"refs/repobus-incoming/origin/{gone.pid}-0badc0de/events/a1"
    mine = f"refs/repobus-incoming/origin/{os.getpid()}-00000000/events/a1"
    for ref in (dead, mine):
        git(c, "update-ref", ref, tip)
    code, rep = doctor(c)
    assert (
        level(rep, "quarantine") == "warning"
        and "1 ref(s) in 1 fetch quarantine" in (finding(rep, "quarantine")[0]["detail"])
    )
    code, rep = doctor(c, "--fix")
    assert "fixed: deleted 1 ref(s)" in finding(rep, "quarantine")[0]["detail"]
    left = git(c, "for-each-ref", "--format=%(refname)", "refs/repobus-incoming/")
    assert left.split() == [mine]  # a live process's quarantine is left alone
