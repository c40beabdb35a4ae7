"""Real deployments: what a refusing, dying or slow remote looks like to an agent.

Every case checks the outcome at the server (the bare repository's refs), the exit code and
message documented in docs/exit-codes.md, and that nothing is left behind.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Cli, git, server_ref, unchanged

from repobus.bus import open_bus

Clones = Callable[[str, int], list[Path]]


def hook(bare: Path, name: str, body: str) -> Path:
    """Install a server hook (a shell script) in the bare repository."""
    path = bare / "hooks" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


REFUSE_BUS = """\
echo run >> "$GIT_DIR/refusals"
while read old new ref; do
  case "$ref" in refs/repobus/*) echo "refs/repobus/* is not allowed on this host"; exit 1;; esac
done
"""


def test_healthy_writes_with_a_remote_print_nothing_on_stderr(
    remote_url: str, bare: Path, make_clones: Clones, cli: Cli
) -> None:
    (c,) = make_clones(remote_url, 1)
    steps = [
        ("claim", "--task", "T-1"),
        ("renew", "--task", "T-1"),
        ("log", "--event", "note", "--summary", "hello"),
        ("log", "--event", "status", "--task", "T-1", "--summary", "green"),
        ("send", "--task", "T-1", "--type", "note", "--summary", "hi"),
        ("release", "--task", "T-1", "--status", "done"),
        ("sync",),
        ("status",),
    ]
    for args in steps:
        res = cli(*args, cwd=c, agent="alice")
        assert (res.code, res.err) == (0, ""), (args, res)
    assert server_ref(bare, "refs/repobus/events/alice")
    assert git(c, "branch", "-a").count("repobus") == 0


def test_a_hook_refusing_bus_refs_is_named_at_once_not_contention(
    bare: Path, make_clones: Clones, cli: Cli
) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    hook(bare, "pre-receive", REFUSE_BUS)
    with unchanged(c):
        started = time.monotonic()
        res = cli("claim", "--task", "T-1", cwd=c, agent="alice")
        took = time.monotonic() - started
    assert res.code == 8, res
    assert "refs/repobus/* is not allowed on this host" in res.err  # the server's own words
    assert "contention" not in res.err and "hint:" in res.err
    assert (bare / "refusals").read_text().count("run") == 1  # one push: no retry loop
    assert took < 10  # generous; the benchmark measures it
    assert server_ref(bare, "refs/repobus/claims/T-1") == ""
    for args in (("renew", "--task", "T-1"), ("release", "--task", "T-1")):
        assert cli(*args, cwd=c, agent="alice").code == 4  # nothing was claimed


def test_a_refused_event_stays_queued_and_every_command_says_so(
    bare: Path, make_clones: Clones, cli: Cli
) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    hook(bare, "pre-receive", REFUSE_BUS)
    res = cli("log", "--event", "note", "--summary", "kept", cwd=c, agent="alice")
    assert res.code == 8 and "recorded in this clone but not on the remote" in res.err, res
    assert "not allowed on this host" in res.err
    status = cli("status", cwd=c)
    assert status.code == 0 and "kept" in status.out
    assert "events/alice (1)" in status.err  # status names what the remote lacks
    status_json = cli("status", "--json", cwd=c)
    assert status_json.code == 0 and "events/alice (1)" in status_json.err
    sync = cli("sync", cwd=c)
    assert sync.code == 8 and "queued (not pushed): refs/repobus/events/alice" in sync.err, sync
    doctor = cli("doctor", "--json", cwd=c)
    unpushed = [f for f in doctor.json["findings"] if f["check"] == "unpushed"]  # type: ignore[index,union-attr]
    assert (
        unpushed
        and unpushed[0]["level"] == "warning"
        and "events/alice: 1" in unpushed[0]["detail"]
    )
    (bare / "hooks" / "pre-receive").unlink()
    assert cli("sync", cwd=c).code == 0
    assert server_ref(bare, "refs/repobus/events/alice") == git(
        c, "rev-parse", "refs/repobus/events/alice"
    )
    again = cli("status", cwd=c)
    assert again.code == 0 and again.err == ""
    assert cli("verify", cwd=c).code == 0


def test_a_refused_guarded_event_writes_nothing(bare: Path, make_clones: Clones, cli: Cli) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    assert cli("claim", "--task", "T-1", cwd=c, agent="alice").code == 0
    hook(bare, "pre-receive", REFUSE_BUS)
    with unchanged(c):
        res = cli(
            "log", "--event", "status", "--task", "T-1", "--summary", "x", cwd=c, agent="alice"
        )
    assert res.code == 8 and "not allowed on this host" in res.err, res


KILL_AFTER_APPLY = """\
# the refs are updated before post-receive runs: cut the connection now, as a dying proxy would
kill -9 $PPID
"""


def test_a_push_applied_then_cut_off_is_read_back_as_won(
    bare: Path, make_clones: Clones, cli: Cli
) -> None:
    a, b = make_clones(f"file://{bare}", 2)
    hook(bare, "post-receive", KILL_AFTER_APPLY)
    res = cli("claim", "--task", "T-1", cwd=a, agent="alice")
    assert res.code == 0, res  # the remote holds alice's commit: she won, and is told so
    assert server_ref(bare, "refs/repobus/claims/T-1") == git(
        a, "rev-parse", "refs/repobus/claims/T-1"
    )
    (bare / "hooks" / "post-receive").unlink()
    lost = cli("claim", "--task", "T-1", cwd=b, agent="bob")
    assert lost.code == 3 and "already claimed by alice" in lost.err


VANISH_AFTER_APPLY = """\
# applied; now the server goes away (moved aside) and stops answering: nothing can be read back
d=$(pwd); mv "$d" "$d.away"; sleep 30
"""


def test_an_unknown_outcome_is_said_and_sync_recognises_the_agents_own_claim(
    bare: Path, make_clones: Clones, cli: Cli
) -> None:
    a, b = make_clones(f"file://{bare}", 2)
    git(a, "config", "repobus.remoteTimeout", "3s")
    hook(bare, "post-receive", VANISH_AFTER_APPLY)
    started = time.monotonic()
    res = cli("claim", "--task", "T-1", cwd=a, agent="alice")
    took = time.monotonic() - started
    away = bare.with_name(bare.name + ".away")
    for _ in range(100):  # the hook moved the repository aside: put it back
        if away.exists():
            break
        time.sleep(0.05)
    away.rename(bare)
    (bare / "hooks" / "post-receive").unlink()
    assert res.code == 9, res
    assert "outcome" in res.err and "unknown" in res.err and "repobus sync" in res.err
    assert "nothing was changed" not in res.err
    assert took < 3 + 5, took  # one budget per command, not per try (plus start-up)
    assert git(bare, "for-each-ref", "refs/repobus/claims/T-1") != ""  # the server has it
    # bob, elsewhere, sees alice as the holder: she must be able to find that out
    assert cli("claim", "--task", "T-1", cwd=b, agent="bob").code == 3
    # following the old hint (--offline, then sync) recognises the change as alice's own
    off = cli("claim", "--task", "T-1", "--offline", cwd=a, agent="alice")
    assert off.code == 0, off
    sync = cli("sync", cwd=a)
    assert sync.code == 0 and "lost" not in sync.err + sync.out, sync
    assert open_bus(a).store.get("claims", "T-1").record["agent_id"] == "alice"  # type: ignore[union-attr]
    # and a plain sync after an unknown outcome simply learns the claim
    assert cli("renew", "--task", "T-1", cwd=a, agent="alice").code == 0


def test_a_stalled_server_costs_one_timeout_and_leaves_no_process(
    bare: Path, make_clones: Clones, cli: Cli
) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    git(c, "config", "repobus.remoteTimeout", "2s")
    hook(bare, "pre-receive", "sleep 30\n")  # nothing is applied; the client cannot know
    started = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "repobus", "claim", "--task", "T-1", "--agent", "alice"],
        cwd=c,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert res.returncode in (6, 9), res
    assert took < 2 + 8, took
    assert "sleep 30" not in _processes_under(bare)
    (bare / "hooks" / "pre-receive").unlink()
    assert server_ref(bare, "refs/repobus/claims/T-1") == ""


def _processes_under(path: Path) -> str:
    """Command lines of running processes whose cwd or arguments mention `path`."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (Path("/proc") / pid / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if str(path) in cmd or cwd.startswith(str(path)):
            out.append(cmd)
    return "\n".join(out)


def test_unreachable_remote_is_not_contention(bare: Path, make_clones: Clones, cli: Cli) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    git(c, "remote", "set-url", "origin", "http://127.0.0.1:9/nothing.git")
    with unchanged(c):
        res = cli("claim", "--task", "T-1", cwd=c, agent="alice")
    assert res.code == 6 and "unreachable" in res.err and "nothing was changed" in res.err, res
    queued = cli("log", "--event", "note", "--summary", "later", cwd=c, agent="alice")
    assert queued.code == 0 and "queued" in queued.err, queued
    git(c, "remote", "set-url", "origin", f"file://{bare}")
    assert cli("sync", cwd=c).code == 0
    assert server_ref(bare, "refs/repobus/events/alice")


def test_concurrent_fetches_in_one_clone(bare: Path, make_clones: Clones, cli: Cli) -> None:
    """Many fetches of one clone at once: each succeeds; no quarantine ref is left."""
    a, b = make_clones(f"file://{bare}", 2)
    for i in range(20):
        assert cli("claim", "--task", f"F-{i:02d}", cwd=a, agent="alice").code == 0
    code = (
        "import sys\n"
        "from repobus.bus import open_bus\n"
        "store = open_bus(sys.argv[1]).store\n"
        "for _ in range(5):\n"
        "    store.sync()\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(b)], stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    errors = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        if p.returncode != 0:
            errors.append(err)
    assert errors == []
    assert git(b, "for-each-ref", "refs/repobus-incoming/") == ""
    assert len(git(b, "for-each-ref", "refs/repobus/claims/").splitlines()) == 20


@pytest.mark.parametrize("command", ["claim", "renew", "release"])
def test_endless_contention_gives_up_bounded_and_says_so(
    repo: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store on which every compare-and-swap is lost: the loop ends after its bounded
    number of tries and names what happened (nothing written)."""
    from repobus.bus import messaging
    from repobus.errors import CasFailed, ConflictError
    from repobus.store.gitstore import GitStore

    bus = open_bus(repo)
    bus.claim("alice", "T-1")

    def always_lost(self: GitStore, kind: str, key: str, record: object, expect: object) -> None:
        raise CasFailed(self.ref(kind, key))

    monkeypatch.setattr(GitStore, "put", always_lost)
    monkeypatch.setattr(messaging, "MAX_SECONDS", 1.0)
    started = time.monotonic()
    with pytest.raises(ConflictError) as info:
        getattr(bus, command)("alice", "T-1")
    assert time.monotonic() - started < 10
    msg = info.value.message
    import re

    tries = re.search(r"lost the compare-and-swap (\d+) times in \d", msg)
    assert tries and 2 <= int(tries.group(1)) <= messaging.MAX_ATTEMPTS, msg
    assert "gave up, nothing was changed" in msg


def test_one_stalled_push_does_not_make_the_clones_agents_wait_in_turn(
    bare: Path, make_clones: Clones
) -> None:
    (c,) = make_clones(f"file://{bare}", 1)
    git(c, "config", "repobus.remoteTimeout", "6s")
    hook(bare, "pre-receive", "sleep 30\n")
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "repobus", "log", "--event", "note", "--summary", f"n{i}"],
            cwd=c,
            env={**os.environ, "REPOBUS_AGENT": f"ag{i}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    results = [(p.wait(60), p.communicate()) for p in procs]
    took = time.monotonic() - started
    assert all(code == 0 for code, _ in results), results
    assert all("queued" in err for _, (_, err) in results), results
    # each waits at most its own budget; in turn, the fourth would wait 4 x 4.8 s (the push's
    # share of the budget), so 14 s leaves room for a loaded machine and still tells them apart
    assert took < 14, (took, results)
    assert "sleep 30" not in _processes_under(bare)
    (bare / "hooks" / "pre-receive").unlink()
    res = subprocess.run(
        [sys.executable, "-m", "repobus", "sync"], cwd=c, capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res
    for i in range(4):  # every acknowledged event reached the server, once
        log = git(bare, "log", "--format=%s", f"refs/repobus/events/ag{i}")
        assert log.count(f'"summary":"n{i}"') == 1, log


# -- chaos on real transports: connections reset at random points, a proxy killed mid-push ----


def _chaos_clones(
    transport: str, request: pytest.FixtureRequest, bare: Path, tmp: Path
) -> tuple[list[Path], int, Callable[[Path, int], None]]:
    """Two clones set up with repobus; the server's port; and a function that points a clone
    at another port (a proxy in front of the server)."""
    from repobus.cli import main

    if transport == "daemon":
        from conftest import Daemon

        d = Daemon(bare.parent)
        d.start()
        request.addfinalizer(d.stop)
        target = d.port

        def url(p: int) -> str:
            return f"git://127.0.0.1:{p}/bus.git"

        def config(clone: Path, p: int) -> dict[str, str]:
            return {}
    else:
        server = request.getfixturevalue(f"{transport}_server")
        target = server.port

        def url(p: int) -> str:
            return str(server.url(port=p))

        def config(clone: Path, p: int) -> dict[str, str]:
            if transport == "http":
                return dict(server.clone_config(clone, port=p))
            return {"core.sshCommand": server.ssh_command(port=p)}  # -p wins over the URL

    clones = []
    for i in range(2):
        path = tmp / f"chaos{i}"
        opts = [a for k, v in config(path, target).items() for a in ("-c", f"{k}={v}")]
        git(tmp, "clone", "-q", *opts, url(target), str(path))
        assert main(["init", "--remote", "origin", "--repo", str(path)]) == 0
        git(path, "config", "repobus.remoteTimeout", "8s")
        clones.append(path)

    def repoint(clone: Path, p: int) -> None:
        for k, v in config(clone, p).items():
            git(clone, "config", k, v)
        git(clone, "remote", "set-url", "origin", url(p))

    return clones, target, repoint


def _run_all(cmds: list[tuple[Path, list[str], str]]) -> list[tuple[int, str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "repobus", *args],
            cwd=cwd,
            env={**os.environ, "REPOBUS_AGENT": agent},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cwd, args, agent in cmds
    ]
    out = []
    for p in procs:
        _, err = p.communicate(timeout=120)
        out.append((p.returncode, err))
    return out


@pytest.mark.parametrize("transport", ["daemon", "http", "ssh"])
def test_chaos_one_winner_and_no_acknowledged_write_lost(
    transport: str,
    request: pytest.FixtureRequest,
    bare: Path,
    tmp_path: Path,
    fault_proxy: Callable[..., object],
) -> None:
    from repobus.store.locks import ref_lock_files

    clones, target, repoint = _chaos_clones(transport, request, bare, tmp_path)
    proxy = faulted = fault_proxy(target, seed=7)
    for c in clones:
        repoint(c, proxy.port)  # type: ignore[attr-defined]
    told: dict[str, dict[str, int]] = {}
    acked: list[str] = []
    rounds = 5
    for r in range(rounds):
        task = f"C-{r}"
        if r == rounds - 1:  # the last round: the proxy stalls, then dies mid-push
            proxy.stall(None)  # type: ignore[attr-defined]
        else:
            proxy.reset(0.35, max_offset=2048)  # type: ignore[attr-defined]
        cmds = [(c, ["claim", "--task", task], f"ag{i}") for i, c in enumerate(clones)]
        cmds += [
            (c, ["log", "--event", "note", "--summary", f"{task}-ev{i}"], f"ag{i}")
            for i, c in enumerate(clones)
        ]
        if r == rounds - 1:
            import threading

            threading.Timer(1.0, proxy.kill).start()  # type: ignore[attr-defined]
        results = _run_all(cmds)
        for (_, args, agent), (code, err) in zip(cmds, results, strict=True):
            assert "Traceback" not in err, err
            assert code in (0, 3, 6, 7, 9) if args[0] == "claim" else code in (0, 6, 9), (
                args,
                code,
                err,
            )
            assert code != 7 and "contention" not in err, err  # resets are not refusals
            if args[0] == "claim":
                told.setdefault(task, {})[agent] = code
            elif code == 0:
                acked.append(args[-1])
        if r == rounds - 1:
            assert faulted.resets > 0, "the proxy reset no connection: nothing was tested"  # type: ignore[attr-defined]
            proxy = fault_proxy(target, seed=99)
            for c in clones:
                repoint(c, proxy.port)  # type: ignore[attr-defined]
    proxy.pass_through()  # type: ignore[attr-defined]
    for c in clones:  # a final sync: everything queued reaches the server
        res = subprocess.run(
            [sys.executable, "-m", "repobus", "sync"],
            cwd=c,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode in (0, 3), res  # 3: an offline change lost (none made here)
    for task, answers in told.items():
        ref = f"refs/repobus/claims/{task}"
        holder_line = git(bare, "log", "-1", "--format=%s", ref) if server_ref(bare, ref) else ""
        winners = [a for a, code in answers.items() if code == 0]
        assert len(winners) <= 1, (task, answers)
        for agent, code in answers.items():
            holds = f'"agent_id":"{agent}"' in holder_line
            if code == 0:
                assert holds, (task, answers, holder_line)
            elif code in (3, 6, 7):
                assert not holds, (task, answers, holder_line)
    for summary in acked:  # every acknowledged event is on the server, exactly once
        found = git(bare, "log", "--format=%s", "--glob=refs/repobus/events/*")
        assert found.count(f'"summary":"{summary}"') == 1, summary
    for c in clones:
        assert (
            subprocess.run(
                [sys.executable, "-m", "repobus", "verify"], cwd=c, capture_output=True, timeout=120
            ).returncode
            == 0
        )
        assert git(c, "for-each-ref", "refs/repobus-incoming/") == ""
        assert ref_lock_files(c / ".git") == []
        assert _processes_under(c) == ""
    git(bare, "fsck", "--no-dangling")
    print(transport, told, f"{len(acked)} events acknowledged")
