"""Part 7 - full disk: the bus on a small tmpfs (git backend, dir backend, and a clone whose
remote is elsewhere) is filled to the last byte; every command then fails or succeeds
without corrupting anything (refs readable, `git fsck` and `verify` clean, every write that
returned 0 still there), and once space is freed the bus works again.  Needs root (mount);
skipped with the reason otherwise.  The tmpfs is unmounted in teardown."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rel_lab import Outcome, cli, clone, fsck, git, new_bare, new_repo, refs_problems

SIZE = "3m"
OPS = [
    ("claim", ["claim", "--task", "T-{n}"]),
    ("renew", ["renew", "--task", "T-0"]),
    ("log", ["log", "--event", "note", "--summary", "full-{n}"]),
    ("guarded log", ["log", "--event", "status", "--summary", "g-{n}", "--task", "T-0"]),
    ("send", ["send", "--task", "T-0", "--type", "status", "--summary", "m-{n}"]),
    ("pause", ["pause", "--task", "T-0", "--notes", "n-{n}"]),
    ("resume", ["claim", "--task", "T-0"]),
    ("status", ["status"]),
    ("verify", ["verify"]),
    ("export", ["export", "--to", "out-{n}"]),
]
SPACE_WORDS = ("No space left", "no space", "disk is full", "disk full", "free some space")
APPENDS = {"log", "guarded log", "send"}  # on the dir backend: see the regression test below


@contextlib.contextmanager
def tmpfs(where: Path, size: str = SIZE) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where`; unmounted (lazily if busy) on exit."""
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        raise PermissionError(f"cannot mount a tmpfs: {res.stderr.strip() or res.returncode}")
    try:
        yield where
    finally:
        gc.collect()  # close SQLite handles of in-process buses
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(mnt: Path) -> Path:
    """Write a file until the filesystem refuses one more byte."""
    path = mnt / "filler"
    with path.open("wb", buffering=0) as fh:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            for _ in range(100_000):
                try:
                    fh.write(b"\0" * chunk)
                except OSError:
                    break
    return path


def _places(mnt: Path, outside: Path) -> dict[str, Path]:
    bare = new_bare(outside / "served" / "bus.git")
    places = {
        "git": new_repo(mnt / "git"),
        "dir": new_repo(mnt / "dir"),
        "remote": clone(f"file://{bare}", mnt / "remote"),
    }
    assert cli("init", "--backend", "dir", "--no-remote", cwd=places["dir"])[0] == 0
    for p in places.values():
        git(p, "config", "repobus.mirror", "false")
        assert cli("claim", "--task", "T-0", cwd=p, agent="a1")[0] == 0
    return places


def _damage(out: Outcome, name: str, place: Path, tag: str) -> None:
    from rel_lab import verify_problems

    for p in refs_problems(place):
        out.fail(f"{tag} {name}: bad ref {p}")
    if (err := fsck(place)) is not None:
        out.fail(f"{tag} {name}: git fsck: {err}")
    try:
        for p in verify_problems(place):
            out.fail(f"{tag} {name}: verify: {p}")
    except Exception as exc:  # noqa: BLE001 - reported, the checks go on
        out.fail(f"{tag} {name}: verify raised {exc!r}")


def _present(place: Path) -> set[str]:
    from repobus.bus import open_bus

    bus = open_bus(place)
    return {
        str(e.record.get("summary"))
        for kind in ("events", "messages")
        for e in bus.store.tail(kind)
    } | {s.key for s in bus.store.list("claims")}


def run(workdir: Path, cycles: int = 2) -> Outcome:
    out = Outcome(
        "full disk",
        "bus on a full 3 MB tmpfs (git, dir, remote clone): no "
        "corruption, acked writes kept, usable once space is freed",
    )
    try:
        ctx = tmpfs(workdir / "mnt")
        mnt = ctx.__enter__()
    except PermissionError as exc:
        out.count(f"skipped: {exc}")
        return out
    try:
        places = _places(mnt, workdir)
        acked: dict[str, set[str]] = {name: set() for name in places}
        for cycle in range(cycles):
            filler = fill(mnt)
            for name, place in places.items():
                for op, argv in OPS:
                    if name == "dir" and op in APPENDS:
                        continue
                    n = f"{cycle}"
                    code, text, err = cli(
                        *[a.replace("{n}", n) for a in argv], cwd=place, agent="a1"
                    )
                    out.trials += 1
                    if code == 0 and op in APPENDS | {"claim"}:
                        acked[name].add(argv[-1].replace("{n}", n))
                    if code != 70:
                        out.count(f"full: exit {code}")
                    if "Traceback" in err:
                        out.fail(f"{name} {op} on a full disk: a traceback: {err[-300:]}")
                    if code not in (0, 74):  # 74: storage (docs/exit-codes.md)
                        out.fail(f"{name} {op} on a full disk exited {code}: {err[-300:]}")
                    elif code == 74 and not any(w in err + text for w in SPACE_WORDS):
                        out.fail(f"{name} {op}: the error does not name the full disk: {err}")
                _damage(out, name, place, f"cycle {cycle} full")
            filler.unlink()
            for name, place in places.items():
                for op, argv in OPS:
                    code, _, err = cli(
                        *[a.replace("{n}", f"free{cycle}") for a in argv], cwd=place, agent="a1"
                    )
                    out.trials += 1
                    if code != 0:
                        out.fail(f"{name} {op} after freeing space exited {code}: {err[-300:]}")
                _damage(out, name, place, f"cycle {cycle} freed")
                if missing := acked[name] - _present(place):
                    out.fail(f"{name}: writes acknowledged on the full disk are gone: {missing}")
                garbage = [p for p in place.rglob("*") if ".tmp" in p.name or "tmp_obj" in p.name]
                for g in garbage:
                    out.count(f"temporary files left behind: {g.relative_to(place)}")
    finally:
        ctx.__exit__(None, None, None)
    return out


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    try:
        with tmpfs(tmp_path / "mnt") as mnt:
            yield mnt
    except PermissionError as exc:
        pytest.skip(str(exc))


def test_full_disk_corrupts_nothing_and_recovers(tmp_path: Path) -> None:
    out = run(tmp_path / "run", cycles=1)
    if any(k.startswith("skipped") for k in out.counters):
        pytest.skip(next(k for k in out.counters if k.startswith("skipped")))
    assert out.failures == 0, "\n".join(out.details)


def test_a_write_on_a_full_disk_gives_a_clear_error(mounted: Path) -> None:
    repo = new_repo(mounted / "git")
    assert cli("claim", "--task", "T-0", cwd=repo, agent="a1")[0] == 0
    filler = fill(mounted)
    code, _, err = cli("log", "--event", "note", "--summary", "x", cwd=repo, agent="a1")
    leftovers = list((repo / ".git/objects").glob("??/tmp_obj_*"))
    filler.unlink()
    assert code not in (0, 70) and "No space left" in err and "a bug" not in err, (code, err)
    assert not leftovers


def test_status_on_a_full_disk_does_not_recurse(mounted: Path) -> None:
    repo = new_repo(mounted / "git")
    assert cli("claim", "--task", "T-0", cwd=repo, agent="a1")[0] == 0
    (repo / ".git/repobus/index.sqlite3").unlink(missing_ok=True)
    filler = fill(mounted)
    code, _, err = cli("status", cwd=repo)
    filler.unlink()
    assert "RecursionError" not in err and code != 70, (code, err)


def test_dir_log_on_a_full_disk_never_leaves_a_torn_line(mounted: Path) -> None:
    repo = new_repo(mounted / "dir")
    assert cli("init", "--backend", "dir", "--no-remote", cwd=repo, agent="a1")[0] == 0
    for i in range(5):  # the log's last page is partly used: later lines fill it up
        assert (
            cli("log", "--event", "note", "--summary", f"before {i}", cwd=repo, agent="a1")[0] == 0
        )
    filler = fill(mounted)
    codes = []
    for i in range(40):  # the line that crosses into a page the disk does not have
        codes.append(
            cli(
                "log",
                "--event",
                "note",
                "--summary",
                f"event {i} " + "x" * 60,
                cwd=repo,
                agent="a1",
            )[0]
        )
        if codes[-1] != 0:
            break
    filler.unlink()
    assert cli("verify", cwd=repo)[0] == 0, codes
    assert cli("log", "--event", "note", "--summary", "after", cwd=repo, agent="a1")[0] == 0


def test_export_on_a_full_disk_leaves_no_temporary_file(mounted: Path) -> None:
    repo = new_repo(mounted / "git")
    git(repo, "config", "repobus.mirror", "false")
    assert cli("claim", "--task", "T-0", cwd=repo, agent="a1")[0] == 0
    # The index trusts its fingerprint of the ref directories once they are 0.5 s old; age
    # them, so that after this status the export reads the index without writing to it.
    old = time.time() - 10
    for d in (repo / ".git/refs/repobus", *(repo / ".git/refs/repobus").iterdir()):
        os.utime(d, (old, old))
    assert cli("status", cwd=repo)[0] == 0
    filler = fill(mounted)
    code, _, err = cli("export", "--to", "out", cwd=repo)
    filler.unlink()
    left = [str(p.relative_to(repo)) for p in (repo / "out").rglob("*.tmp")]
    assert code == 74 and not left, (code, left, err)
