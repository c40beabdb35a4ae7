"""Everyday git housekeeping beside the bus, and the bus's own: object writes survive a
concurrent gc/repack/prune, the bus keeps its loose objects packed below `gc.auto` without
deleting anything unreferenced, and a chain whose commit was pruned is a clear error (exit 1)
naming the chain and its repair - restored by `repobus doctor --fix` when there is a remote."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Run, git, run_console
from racers import op_workers

from repobus.bus import open_bus
from repobus.store import housekeeping, objects

Cli = Callable[..., Run]


# -- object writes beside a concurrent gc --------------------------------------------------------
def test_write_recreates_a_fanout_dir_removed_between_mkdir_and_open(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open
    removed: list[Path] = []

    def gc_first(path: str | Path, flags: int, mode: int = 0o777, **kw: object) -> int:
        p = Path(path)
        if p.name.startswith("tmp_obj_") and not removed:
            removed.append(p.parent)
            p.parent.rmdir()  # what `git prune` does to an empty fan-out directory
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", gc_first)
    oid = objects.write(repo / ".git" / "objects", "blob", b"survives a gc\n")
    monkeypatch.undo()
    assert removed == [repo / ".git" / "objects" / oid[:2]]
    assert git(repo, "cat-file", "-p", oid) == "survives a gc"


def test_write_survives_a_fanout_dir_removed_right_after_mkdir_found_it(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objs = repo / ".git" / "objects"
    for n in range(1000):  # a fan-out folder no object of the repository lives in yet
        data = b"found, then gone %d\n" % n
        folder = objs / hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()[:2]
        if not folder.exists():
            break
    folder.mkdir()
    real_mkdir = os.mkdir
    raced: list[str] = []

    def exists_then_gone(path: str | Path, mode: int = 0o777, **kw: object) -> None:
        if Path(path) == folder and not raced:
            raced.append(str(path))
            os.rmdir(path)  # git prune, between our EEXIST and our open
            raise FileExistsError(17, "File exists", str(path))
        real_mkdir(path, mode)

    monkeypatch.setattr(os, "mkdir", exists_then_gone)
    oid = objects.write(objs, "blob", data)
    monkeypatch.undo()
    assert raced and git(repo, "cat-file", "-p", oid) == data.decode().rstrip("\n")


def test_write_retries_when_its_temporary_file_is_pruned(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    pruned: list[str] = []

    def prune_first(src: str | Path, dst: str | Path) -> None:
        if not pruned:
            pruned.append(str(src))
            Path(src).unlink()  # `git prune --expire=now` removes tmp_obj_* files too
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", prune_first)
    oid = objects.write(repo / ".git" / "objects", "blob", b"written twice\n")
    monkeypatch.undo()
    assert len(pruned) == 1
    assert git(repo, "cat-file", "-p", oid) == "written twice"


def test_writing_an_existing_old_object_freshens_it_so_prune_keeps_it(repo: Path) -> None:
    objs = repo / ".git" / "objects"
    kept = objects.write(objs, "blob", b"old but wanted again\n")
    dropped = objects.write(objs, "blob", b"old and unwanted\n")
    for oid in (kept, dropped):
        os.utime(objs / oid[:2] / oid[2:], (1_000_000_000, 1_000_000_000))
    assert objects.write(objs, "blob", b"old but wanted again\n") == kept
    assert (objs / kept[:2] / kept[2:]).stat().st_mtime > time.time() - 600
    git(repo, "prune", "--expire=1.hour.ago")
    assert git(repo, "cat-file", "-t", kept) == "blob"  # freshened: a new writer's object
    assert not (objs / dropped[:2] / dropped[2:]).exists()  # the hazard is real without it


class Housekeeper:
    """`git gc` / `git repack -ad` / `git pack-refs --all` in a loop (default settings, no
    --prune=now), bounded in count and time, each git a subprocess of its own; every fourth
    step the bus's own packing (`housekeeping.pack`), as a crossing writer would run it."""

    STEPS = (("gc", "-q"), ("repack", "-adq"), ("pack-refs", "--all"), ("repobus-pack",))

    def __init__(self, repo: Path, limit: int = 2000, seconds: float = 240) -> None:
        self.repo, self.limit, self.seconds = repo, limit, seconds
        self.stop = threading.Event()
        self.runs: list[tuple[str, int]] = []
        self.started = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        end = time.monotonic() + self.seconds
        cycle = len(self.STEPS)  # stopping waits for one whole cycle: every step ran once
        while (not self.stop.is_set() or len(self.runs) < cycle) and (
            len(self.runs) < self.limit and time.monotonic() < end
        ):
            step = self.STEPS[len(self.runs) % len(self.STEPS)]
            if step[0] == "repobus-pack":
                self.runs.append((step[0], 0 if housekeeping.pack(open_bus(self.repo).repo) else 1))
            else:
                res = subprocess.run(
                    ["git", *step], cwd=self.repo, capture_output=True, timeout=120
                )
                self.runs.append((step[0], res.returncode))
            self.started.set()

    def __enter__(self) -> Housekeeper:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(150)


def _answers(proc: subprocess.Popen[str], ops: list[dict[str, str]]) -> list[str]:
    """Hand all ops to one worker, then read its answers (one line each)."""
    try:
        out, _ = proc.communicate("".join(json.dumps(op) + "\n" for op in ops), timeout=240)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return out.split()


def _summaries(repo: Path, agent: str) -> list[str]:
    text = git(repo, "log", "--format=%B%x1e", f"refs/repobus/events/{agent}", "--")
    return [
        json.loads(c.strip().splitlines()[0])["summary"] for c in text.split("\x1e") if c.strip()
    ]


def _gc_beside_writers(repo: Path, cli: Cli, total: int) -> None:
    git(repo, "config", "repobus.packThreshold", "256")  # the bus packs beside the gc loop too
    agents = [f"w{i}" for i in range(4)]
    ops = {
        a: [{"op": "log", "agent": a, "summary": f"{a}-{n}"} for n in range(total // 4)]
        for a in agents
    }
    procs = op_workers(repo, len(agents))
    results: dict[str, list[str]] = {}
    try:
        with Housekeeper(repo) as keeper:
            keeper.started.wait(60)  # the loop is running before the writers start
            threads = [
                threading.Thread(
                    target=lambda a=a, p=p: results.__setitem__(a, _answers(p, ops[a]))
                )
                for a, p in zip(agents, procs, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(300)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(10)
    assert {step for step, _ in keeper.runs} == {s[0] for s in Housekeeper.STEPS}, keeper.runs
    for a in agents:
        assert results.get(a) == ["ok"] * (total // 4), (a, results.get(a))
        assert sorted(_summaries(repo, a)) == sorted(op["summary"] for op in ops[a])
    verify = cli("verify", "--json", cwd=repo)
    assert verify.code == 0 and verify.json["ok"], verify.out + verify.err  # type: ignore[index]
    fsck = subprocess.run(
        ["git", "fsck", "--no-dangling"], cwd=repo, capture_output=True, text=True
    )
    assert fsck.returncode == 0 and not fsck.stdout.strip(), fsck.stdout + fsck.stderr


def test_gc_repack_and_pack_refs_loop_beside_four_writers_loses_nothing(
    repo: Path, cli: Cli
) -> None:
    _gc_beside_writers(repo, cli, total=200)


@pytest.mark.slow
def test_gc_loop_beside_four_writers_1000_writes(repo: Path, cli: Cli) -> None:
    _gc_beside_writers(repo, cli, total=1000)


# -- the bus keeps its loose objects packed ------------------------------------------------------
def _loose_and_packs(repo: Path) -> tuple[int, int]:
    rows = dict(
        line.split(": ") for line in git(repo, "count-objects", "-v").splitlines() if ": " in line
    )
    return int(rows["count"]), int(rows["packs"])


def _blob(repo: Path, text: str) -> str:
    res = subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=repo,
        input=text,
        capture_output=True,
        text=True,
    )
    return res.stdout.strip()


def test_many_events_stay_under_gc_auto_and_nothing_unreferenced_is_deleted(repo: Path) -> None:
    git(repo, "config", "gc.auto", "4000")  # what the user's git auto-packs at
    git(repo, "config", "gc.autoPackLimit", "8")  # low, so the bus rolls its packs up too
    git(repo, "config", "repobus.packThreshold", "256")
    junk = [_blob(repo, f"junk {i}\n") for i in range(20)]
    orphan = git(repo, "commit-tree", objects.EMPTY_TREE, "-m", "unreferenced")
    bus = open_bus(repo)
    objs = repo / ".git" / "objects"
    worst = 0
    for i in range(3000):
        bus.log(f"a{i % 4}", "note", f"e{i}")
        worst = max(worst, housekeeping.sampled(objs))
    assert worst <= 1  # git's estimate never passed 256 (ceil(256 / 256) entries in objects/17)
    loose, packs = _loose_and_packs(repo)
    assert loose < 4000 and packs < 8, (loose, packs)
    before = sorted(p.name for p in (objs / "pack").iterdir())
    res = subprocess.run(
        ["git", "-c", "gc.autoDetach=false", "gc", "--auto"], cwd=repo, capture_output=True
    )
    assert res.returncode == 0
    assert sorted(p.name for p in (objs / "pack").iterdir()) == before  # git found nothing to do
    for oid in [*junk, orphan]:
        assert git(repo, "cat-file", "-t", oid) in ("blob", "commit")
    for a in range(4):
        assert len(_summaries(repo, f"a{a}")) == 750
    fsck = subprocess.run(["git", "fsck"], cwd=repo, capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stderr


def test_pack_holds_only_referenced_objects_and_leaves_pending_ones_loose(repo: Path) -> None:
    bus = open_bus(repo)
    for i in range(30):
        bus.log("a1", "note", f"e{i}")
    objs = repo / ".git" / "objects"
    pending = objects.write(objs, "commit", objects.commit_body(None, "a2", 1, b"{}\n"))
    assert housekeeping.pack(bus.repo)
    assert (objs / pending[:2] / pending[2:]).exists()  # not referenced yet: stays loose
    tip = git(repo, "rev-parse", "refs/repobus/events/a1")
    assert not (objs / tip[:2] / tip[2:]).exists()  # packed, its loose copy removed
    assert git(repo, "cat-file", "-t", tip) == "commit"
    assert len(_summaries(repo, "a1")) == 30


def test_a_second_packer_skips_while_one_holds_the_lock(repo: Path) -> None:
    import fcntl

    bus = open_bus(repo)
    bus.log("a1", "note", "e")
    folder = repo / ".git" / "repobus-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / "pack.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert housekeeping.pack(bus.repo) is False
        assert _loose_and_packs(repo)[1] == 0
    assert housekeeping.pack(bus.repo) is True


def test_doctor_reports_loose_objects_past_the_threshold_and_fix_packs_them(
    repo: Path, cli: Cli
) -> None:
    objs, tip = repo / ".git" / "objects", None
    for i in range(3000):  # a chain as an old repobus left it: every commit loose, never packed
        body = objects.commit_body(tip, "a1", 1_700_000_000 + i, b'{"n": %d}\n' % i)
        tip = objects.write(objs, "commit", body)
    assert tip is not None
    git(repo, "update-ref", "refs/repobus/events/a1", tip)
    git(repo, "config", "repobus.packThreshold", "1000")
    found = _finding(cli("doctor", "--json", cwd=repo), "loose objects")
    assert found["level"] == "warning" and "past the bus's threshold 1000" in found["detail"]
    fixed = _finding(cli("doctor", "--fix", "--json", cwd=repo), "loose objects")
    assert fixed["level"] == "ok" and fixed["detail"].startswith("fixed: packed")
    assert _loose_and_packs(repo) == (1, 1)  # the user's own first commit: not the bus's to pack
    head = git(repo, "rev-parse", "HEAD")
    assert (objs / head[:2] / head[2:]).exists()
    git(repo, "config", "repobus.packThreshold", "many")
    bad = _finding(cli("doctor", "--json", cwd=repo), "loose objects")
    assert bad["level"] == "warning" and "not a whole number" in bad["detail"]


def test_threshold_follows_gc_auto_and_the_setting(repo: Path) -> None:
    bus = open_bus(repo)
    assert housekeeping.threshold(bus.repo, bus.cfg) == housekeeping.FLOOR  # gc.auto=0 (tests)
    git(repo, "config", "gc.auto", "4000")
    assert housekeeping.threshold(bus.repo, bus.cfg) == 1000
    git(repo, "config", "repobus.packThreshold", "300")
    bus = open_bus(repo)
    assert housekeeping.threshold(bus.repo, bus.cfg) == 300
    # as git judges gc.auto: more entries in objects/17 than ceil(limit / 256)
    assert housekeeping.due(2, 256) and not housekeeping.due(2, 300) and housekeeping.due(3, 300)
    assert not housekeeping.due(100, 0)  # packThreshold=0: never


# -- a chain whose commit was pruned ---------------------------------------------------------------
def _drop(repo: Path, ref: str, how: str) -> str:
    """Remove the tip commit of `ref` as a `git gc --prune=now` racing its writer would."""
    tip = git(repo, "rev-parse", ref)
    if how == "loose":
        (repo / ".git" / "objects" / tip[:2] / tip[2:]).unlink()
    else:  # repacked without it: unreferenced while the gc ran, referenced again after
        git(repo, "update-ref", ref, f"{tip}^", tip)
        git(repo, "repack", "-adq")
        git(repo, "prune", "--expire=now")
        (repo / ".git" / ref).write_text(tip + "\n")
    assert subprocess.run(["git", "cat-file", "-e", tip], cwd=repo).returncode != 0
    return tip


def _finding(run: Run, check: str) -> dict[str, str]:
    return next(f for f in run.json["findings"] if f["check"] == check)  # type: ignore[index]


@pytest.fixture
def logged(repo: Path, cli: Cli) -> Path:
    for agent, n in (("a1", 3), ("a2", 2)):
        for i in range(n):
            assert (
                cli(
                    "log", "--event", "note", "--summary", f"{agent}-{i}", cwd=repo, agent=agent
                ).code
                == 0
            )
    return repo


@pytest.mark.parametrize("how", ["loose", "repacked"])
def test_pruned_tip_without_remote_is_a_clear_error_everywhere(
    logged: Path, cli: Cli, how: str
) -> None:
    repo = logged
    tip = _drop(repo, "refs/repobus/events/a1", how)
    verify = cli("verify", "--json", cwd=repo)
    assert verify.code == 1
    (problem,) = verify.json["problems"]  # type: ignore[index]
    assert problem["chain"] == "refs/repobus/events/a1" and tip[:12] in problem["record"]
    assert "restore it from a backup or another clone" in problem["problem"]
    doctor = cli("doctor", "--json", cwd=repo)
    assert doctor.code == 1
    found = _finding(doctor, "bus objects present")
    assert found["level"] == "problem" and "refs/repobus/events/a1" in found["detail"]
    assert cli("doctor", "--fix", "--json", cwd=repo).code == 1  # nothing to fetch it from
    log = cli("log", "--event", "note", "--summary", "again", cwd=repo, agent="a1")
    assert log.code == 1, log.err
    assert "refs/repobus/events/a1 cannot be read" in log.err and "Traceback" not in log.err
    assert "hint: restore it from a backup or another clone" in log.err
    assert cli("log", "--event", "note", "--summary", "other", cwd=repo, agent="a2").code == 0
    real = run_console("log", "--event", "note", "--summary", "again", cwd=repo, agent="a1")
    assert real.returncode == 1 and "cannot be read" in real.stderr


def test_pruned_tip_names_the_newest_record_left_when_the_index_saw_it(
    logged: Path, cli: Cli
) -> None:
    repo = logged
    assert cli("status", "--json", cwd=repo).code == 0  # the index catches up: a1-0..a1-2
    before = git(repo, "rev-parse", "refs/repobus/events/a1")
    assert cli("log", "--event", "note", "--summary", "lost", cwd=repo, agent="a1").code == 0
    _drop(repo, "refs/repobus/events/a1", "loose")
    log = cli("log", "--event", "note", "--summary", "again", cwd=repo, agent="a1")
    assert log.code == 1 and f"its records after {before[:12]} are lost" in log.err
    assert f"git update-ref refs/repobus/events/a1 {before}" in log.err


@pytest.fixture
def remote_clone(bare: Path, make_clones: Callable[[str, int], list[Path]], cli: Cli) -> Path:
    (clone,) = make_clones(f"file://{bare}", 1)
    for i in range(4):
        assert (
            cli("log", "--event", "note", "--summary", f"a1-{i}", cwd=clone, agent="a1").code == 0
        )
    return clone


def test_pruned_tip_with_a_remote_is_fetched_again_by_doctor_fix(
    remote_clone: Path, cli: Cli
) -> None:
    clone = remote_clone
    _drop(clone, "refs/repobus/events/a1", "loose")
    log = cli("log", "--event", "note", "--summary", "again", cwd=clone, agent="a1")
    assert log.code == 1 and "repobus doctor --fix" in log.err, log.err
    verify = cli("verify", "--json", cwd=clone)
    assert verify.code == 1 and "restore it from the remote" in verify.out
    fixed = _finding(cli("doctor", "--fix", "--json", cwd=clone), "bus objects present")
    assert fixed["level"] == "ok" and "refs/repobus/events/a1: re-fetched it" in fixed["detail"]
    assert cli("verify", cwd=clone).code == 0
    assert cli("log", "--event", "note", "--summary", "a1-4", cwd=clone, agent="a1").code == 0
    assert _summaries(clone, "a1") == [f"a1-{i}" for i in range(4, -1, -1)]


def test_pruned_middle_record_with_a_remote_is_fetched_again_whole(
    remote_clone: Path, cli: Cli
) -> None:
    clone = remote_clone
    middle = git(clone, "rev-parse", "refs/repobus/events/a1~2")
    (clone / ".git" / "objects" / middle[:2] / middle[2:]).unlink()
    verify = cli("verify", "--json", cwd=clone)
    assert verify.code == 1
    (problem,) = verify.json["problems"]  # type: ignore[index]
    assert (
        problem["record"] == f"commit {middle[:12]}" and "the record before" in problem["problem"]
    )
    found = _finding(cli("doctor", "--json", cwd=clone), "bus objects present")
    assert found["level"] == "problem" and "`repobus doctor --fix` re-fetches" in found["detail"]
    fixed = _finding(cli("doctor", "--fix", "--json", cwd=clone), "bus objects present")
    assert fixed["level"] == "ok", fixed
    assert cli("verify", cwd=clone).code == 0


def test_pruned_tip_never_pushed_is_rewound_to_the_remote_copy(
    remote_clone: Path, cli: Cli
) -> None:
    clone = remote_clone
    pushed = git(clone, "rev-parse", "refs/repobus/events/a1")
    bus = open_bus(clone)
    bus.store.offline = True  # type: ignore[attr-defined]
    bus.log("a1", "note", "never pushed")
    _drop(clone, "refs/repobus/events/a1", "loose")
    fixed = _finding(cli("doctor", "--fix", "--json", cwd=clone), "bus objects present")
    assert fixed["level"] == "ok" and "was never pushed and is lost" in fixed["detail"], fixed
    assert git(clone, "rev-parse", "refs/repobus/events/a1") == pushed
    assert cli("log", "--event", "note", "--summary", "a1-4", cwd=clone, agent="a1").code == 0
    assert cli("verify", cwd=clone).code == 0
