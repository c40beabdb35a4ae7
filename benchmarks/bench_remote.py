"""Section `remote` (issue 4): repobus with a shared remote served by `git daemon` on loopback.

- remote claim latency: in-process `bus.claim` on fresh tasks in a clone, interleaved with a
  bare `git push --porcelain --force-with-lease=REF: origin <oid>:REF` of one new ref (a new
  commit each time) from the same clone to the same daemon;
- 16 agents on 4 clones (4 processes per clone, `_log_worker.py`) logging for 30 s:
  aggregate events/s, and every acknowledged event at the remote after a `sync` of every
  clone (counted in the served bare repository and in a fresh clone);
- cross-clone 16-way race (4 clones x 4 `_race_worker.py`): one winner per round, and every
  clone agrees on the holder after `sync`.

Each scenario has its own bare repository under one daemon, so the refs of one do not slow
the pushes of another.  The daemon and every worker are stopped by PID, also on error.
"""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from benchmarks._common import EMPTY_TREE, git, median, p95, terminate
from benchmarks.bench import (
    HERE,
    Ctx,
    Row,
    _count_git,
    _latency_row,
    _pair,
    _reader,
    _run,
    _stop,
    run_race,
)


@dataclass(frozen=True)
class RemoteSizes:
    claim_n: int
    warmup: int
    log_seconds: float
    race_rounds: int


FULL = RemoteSizes(claim_n=200, warmup=5, log_seconds=30.0, race_rounds=500)
QUICK = RemoteSizes(claim_n=20, warmup=2, log_seconds=5.0, race_rounds=30)
CLONES = 4
PER_CLONE = 4
TARGET_EVENTS_PER_S = 50.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """`git daemon` on 127.0.0.1 serving the bare repositories under `base`, push enabled;
    started and stopped by its PID."""

    def __init__(self, ctx: Ctx, base: Path) -> None:
        self.ctx = ctx
        self.base = base
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--enable=receive-pack", "--export-all",
             f"--base-path={self.base}", "--listen=127.0.0.1", f"--port={self.port}",
             str(self.base)],
            env=self.ctx.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.ctx.procs.append(self.proc)  # the safety net of bench.main stops it too
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"git daemon exited {self.proc.returncode} at start")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("git daemon did not start listening in 10 s")

    def children_cpu(self) -> float:
        """CPU seconds of the daemon's finished children (receive-pack, upload-pack and what
        they start), from /proc/PID/stat (cutime + cstime) of `git daemon` and of the
        `git-daemon` it runs as its child."""
        import os

        if self.proc is None:
            return 0.0
        pid, total = self.proc.pid, 0
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as fh:
                pids = [pid, *map(int, fh.read().split())]
            for p in pids:
                with open(f"/proc/{p}/stat", "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                total += int(fields[13]) + int(fields[14])
        except OSError:
            return 0.0
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
        self.proc = None


def _bare(ctx: Ctx, base: Path, name: str) -> Path:
    """A bare repository `base/name` with one commit on main."""
    path = base / name
    git(ctx.root, "init", "-q", "--bare", "-b", "main", str(path), env=ctx.env)
    seed = ctx.root / f"seed-{name}"
    git(ctx.root, "clone", "-q", str(path), str(seed), env=ctx.env)
    git(seed, "commit", "-q", "--allow-empty", "-m", "initial", env=ctx.env)
    git(seed, "push", "-q", "origin", "main", env=ctx.env)
    return path


def _clone(ctx: Ctx, url: str, dest: Path) -> Path:
    """`git clone URL` then `repobus init --remote origin` in the clone (the CLI)."""
    git(ctx.root, "clone", "-q", url, str(dest), env=ctx.env)
    _run([ctx.exe, "init", "--remote", "origin"], dest, ctx.env)
    return dest


def _sync(ctx: Ctx, clone: Path) -> dict[str, object]:
    out = _run([ctx.exe, "sync", "--json"], clone, ctx.env)
    try:
        doc = json.loads(out)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


# -- claim latency -------------------------------------------------------------------------

def _claim_latency(ctx: Ctx, daemon: Daemon, base: Path, s: RemoteSizes) -> list[Row]:
    from repobus.bus import open_bus
    from repobus.errors import ConflictError
    from repobus.git import gitcmd

    _bare(ctx, base, "claim.git")
    clone = _clone(ctx, daemon.url("claim.git"), ctx.root / "claim-clone")
    gitcmd._ENV = None
    bus = open_bus(clone)
    if type(bus.store).__name__ != "RemoteGitStore":
        raise RuntimeError(f"`repobus init --remote origin` did not give a remote store: "
                           f"{type(bus.store).__name__}")
    # one new commit per reference push, made beforehand (a claim pushes a new commit too)
    oids = {}
    for i in range(-s.warmup, s.claim_n):
        res = git(clone, "commit-tree", EMPTY_TREE, "-m", f"bench push {i}", env=ctx.env)
        oids[i] = res.stdout.decode().strip()

    def bare_push(i: int) -> None:
        ref = f"refs/bench/push-{i + 100}"
        res = subprocess.run(["git", "push", "--porcelain", f"--force-with-lease={ref}:",
                              "origin", f"{oids[i]}:{ref}"], cwd=clone, env=ctx.env,
                             capture_output=True)
        if res.returncode != 0:
            raise RuntimeError(f"reference push failed: {res.stderr.decode().strip()}")

    vals, refs = _pair(s.claim_n, s.warmup,
                       lambda i: bus.claim("bench-remote", f"RC-{i + 100}"), bare_push)
    # every claim must be on the remote
    served = git(base / "claim.git", "for-each-ref", "--format=%(refname)",
                 "refs/repobus/claims/", env=ctx.env).stdout.decode().split()
    missing = s.claim_n + s.warmup - len(served)
    other = open_bus(_clone(ctx, daemon.url("claim.git"), ctx.root / "claim-clone2"))
    counts: dict[str, int] = {}
    with _count_git() as calls:
        bus.claim("bench-remote", "RG-1")
        counts["claim won"] = len(calls)
        kinds = sorted({c[0] for c in calls})
        calls.clear()
        with suppress(ConflictError):
            bus.claim("bench-other", "RG-1")
        counts["claim lost (held here)"] = len(calls)
        calls.clear()
        with suppress(ConflictError):
            other.claim("bench-other", "RG-1")
        counts["claim lost (won elsewhere)"] = len(calls)
        lost_seq = [c[0] for c in calls]
        calls.clear()
        bus.log("bench-remote", "status", "summary")
        counts["log"] = len(calls)
    note = (f"git processes: {', '.join(f'{k} {v}' for k, v in counts.items())} "
            f"(won: {', '.join(kinds)}; lost to another clone, in order: "
            f"{' '.join(lost_seq)}); the server "
            f"held up to {len(served)} claim refs + {len(oids)} pushed refs")
    row = _latency_row("remote_claim", "remote claim: bus.claim() in a clone (git daemon)",
                       vals, "git push --force-with-lease of 1 new ref", refs, 2.0, note=note,
                       extra={"git_processes": counts, "lost_claim_git": lost_seq})
    if missing:
        row.passed = False
        row.note += f"; {missing} claims MISSING at the remote"
    return [row]


# -- 16 agents logging -----------------------------------------------------------------------

def _chain_summaries(repo: Path, ctx: Ctx, ref: str) -> list[str]:
    res = git(repo, "log", "--format=%B%x1e", ref, "--", env=ctx.env, check=False)
    if res.returncode != 0:
        return []
    out = []
    for chunk in res.stdout.split(b"\x1e"):
        line = chunk.strip(b"\n").split(b"\n", 1)[0]
        if line:
            out.append(str(json.loads(line).get("summary")))
    return out


def _event_counts(repo: Path, ctx: Ctx) -> dict[str, int]:
    res = git(repo, "for-each-ref", "--format=%(refname)", "refs/repobus/events/", env=ctx.env)
    out = {}
    for ref in res.stdout.decode().split():
        n = git(repo, "rev-list", "--count", ref, env=ctx.env).stdout.decode().strip()
        out[ref.rsplit("/", 1)[-1]] = int(n)
    return out


def _logging(ctx: Ctx, daemon: Daemon, base: Path, s: RemoteSizes) -> list[Row]:
    bare = _bare(ctx, base, "log.git")
    clones = [_clone(ctx, daemon.url("log.git"), ctx.root / f"log-clone{k}")
              for k in range(CLONES)]
    agents = [f"logger-{k}-{j}" for k in range(CLONES) for j in range(PER_CLONE)]
    ref_bare = _bare(ctx, base, "bare-log.git")
    ref_clones = [_clone(ctx, daemon.url("bare-log.git"), ctx.root / f"bare-clone{k}")
                  for k in range(CLONES)]
    served = daemon.children_cpu()
    floor = _workers(ctx, ref_clones, agents, s, "bare")
    floor_cost = _costs(ctx, agents, floor, daemon.children_cpu() - served)
    floor_total = sum(int(d[1]) - int(d[2]) for d in floor.values())
    floor_rate = floor_total / max(float(d[3]) for d in floor.values())
    floor_lost = sum(int(floor[i][1]) - int(floor[i][2]) - len(_bare_chain(ref_bare, ctx, a))
                     for i, a in enumerate(agents))
    served = daemon.children_cpu()
    done = _workers(ctx, clones, agents, s, "repobus")
    cost = _costs(ctx, agents, done, daemon.children_cpu() - served)
    rows = _log_rows(ctx, daemon, bare, clones, agents, done, floor_rate, floor_lost)
    rows[1].note += f"; per event: repobus {_cost_text(cost)}; reference {_cost_text(floor_cost)}"
    rows[1].extra = {"cost_per_event": cost, "reference_cost_per_event": floor_cost}
    return rows


def _costs(ctx: Ctx, agents: list[str], done: dict[int, list[str]],
           served_cpu: float) -> dict[str, float]:
    """What one event cost, summed over the workers' `stats` lines (_log_worker.py): git
    processes by subcommand, CPU of the workers, of their git processes and of the daemon's
    (receive-pack and its helpers), and the wait for the push turn."""
    tot: dict[str, float] = {"cpu_self": 0.0, "cpu_git": 0.0, "lock_wait": 0.0}
    gits: dict[str, float] = {}
    for idx in done:
        err = (ctx.root / f"{agents[idx]}.stderr").read_text(errors="replace")
        line = next((x for x in err.splitlines() if x.startswith("stats ")), "")
        st = json.loads(line[6:]) if line else {}
        for k, v in st.items():
            if k in tot or k.startswith("wall_"):
                tot[k] = tot.get(k, 0.0) + float(v)
        for k, v in st.get("git", {}).items():
            gits[k] = gits.get(k, 0.0) + v
    events = max(1, sum(int(d[1]) for d in done.values()))
    out = {k: v / events for k, v in tot.items()}
    out["cpu_daemon"] = served_cpu / events
    out["git_processes"] = sum(gits.values()) / events
    out |= {f"git_{k}": v / events for k, v in sorted(gits.items())}
    out["events_per_push"] = events / gits["push"] if gits.get("push") else 0.0
    return out


def _cost_text(c: dict[str, float]) -> str:
    procs = ", ".join(f"{k[4:]} {v:.2f}" for k, v in c.items()
                      if k.startswith("git_") and k != "git_processes")
    return (f"CPU {1000 * (c['cpu_self'] + c['cpu_git'] + c['cpu_daemon']):.0f} ms (python "
            f"{1000 * c['cpu_self']:.0f}, git {1000 * c['cpu_git']:.0f}, daemon "
            f"{1000 * c['cpu_daemon']:.0f}), git processes {c['git_processes']:.2f} ({procs}), "
            f"{c['events_per_push']:.1f} events per push, push-turn wait "
            f"{1000 * c['lock_wait']:.0f} ms" + "".join(
                f", {k[5:]} {1000 * v:.0f} ms" for k, v in c.items() if k.startswith("wall_")))


def _bare_chain(repo: Path, ctx: Ctx, agent: str) -> list[str]:
    res = git(repo, "log", "--format=%s", f"refs/bare/{agent}", "--", env=ctx.env, check=False)
    text = res.stdout.decode(errors="replace").strip()
    return text.split("\n") if res.returncode == 0 and text else []


def _workers(ctx: Ctx, clones: list[Path], agents: list[str], s: RemoteSizes,
             mode: str) -> dict[int, list[str]]:
    """Run one `_log_worker.py` per agent (PER_CLONE per clone), released together; their
    `done` lines, split."""
    worker = str(HERE / "_log_worker.py")
    extra = ["bare"] if mode == "bare" else []
    q: queue.Queue[tuple[int, str]] = queue.Queue()
    procs: list[subprocess.Popen[bytes]] = []
    done: dict[int, list[str]] = {}
    errfiles = []
    try:
        for idx, agent in enumerate(agents):
            where = clones[idx // PER_CLONE]
            errf = open(ctx.root / f"{agent}.stderr", "wb")  # noqa: SIM115 (closed below)
            errfiles.append(errf)
            p = subprocess.Popen([sys.executable, worker, str(where), agent, str(s.log_seconds),
                                  *extra], cwd=where, env=ctx.env, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=errf, bufsize=0)
            procs.append(p)
            ctx.procs.append(p)
            threading.Thread(target=_reader, args=(p, idx, q), daemon=True).start()
        ready = 0
        deadline = time.monotonic() + 60
        while ready < len(procs):
            idx, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            if line != "ready":
                raise RuntimeError(f"log worker {agents[idx]} failed to start: {line}")
            ready += 1
        for p in procs:
            assert p.stdin is not None
            p.stdin.write(b"go\n")
        deadline = time.monotonic() + s.log_seconds + 120
        while len(done) < len(procs):
            idx, line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            if line == "<eof>" and idx in done:
                continue
            if not line.startswith("done "):
                procs[idx].wait(5)
                err = (ctx.root / f"{agents[idx]}.stderr").read_text(errors="replace")
                raise RuntimeError(f"log worker {agents[idx]}: unexpected {line!r} (exit "
                                   f"{procs[idx].returncode}); stderr: {err.strip()[-800:]}")
            done[idx] = line.split(" ", 7)
    finally:
        _stop(procs)
        for f in errfiles:
            f.close()
    return done


def _log_rows(ctx: Ctx, daemon: Daemon, bare: Path, clones: list[Path], agents: list[str],
              done: dict[int, list[str]], floor_rate: float, floor_lost: int) -> list[Row]:
    calls = {agents[i]: int(d[1]) for i, d in done.items()}
    failed = {agents[i]: ({int(x) for x in d[6].split(",")} if d[6] != "-" else set())
              for i, d in done.items()}
    first_err = next((" ".join(d[7:]) for d in done.values() if int(d[2])), "")
    elapsed = max(float(d[3]) for d in done.values())
    lat50 = median([float(d[4]) for d in done.values()])
    lat95 = max(float(d[5]) for d in done.values())
    acked = {a: calls[a] - len(failed[a]) for a in agents}
    total = sum(acked.values())
    rate = total / elapsed
    # what the agents' own pushes carried, then sync every clone
    before = sum(_event_counts(bare, ctx).values())
    t0 = time.perf_counter()
    for c in clones:
        _sync(ctx, c)
    sync_s = time.perf_counter() - t0
    lost = dup = unknown = extra = 0
    for a in agents:
        got = _chain_summaries(bare, ctx, f"refs/repobus/events/{a}")
        want = {f"{a}-{n}" for n in range(calls[a]) if n not in failed[a]}
        maybe = {f"{a}-{n}" for n in failed[a]}
        have = set(got)
        dup += len(got) - len(have)
        lost += len(want - have)
        unknown += len(maybe & have)
        extra += len(have - want - maybe)
    at_remote = sum(_event_counts(bare, ctx).values())
    # a fresh clone sees them all too, and the chains verify
    fresh = _clone(ctx, daemon.url("log.git"), ctx.root / "log-fresh")
    _sync(ctx, fresh)
    in_fresh = sum(_event_counts(fresh, ctx).values())
    ver = json.loads(_run([ctx.exe, "verify", "--json"], fresh, ctx.env, ok=(0, 1)) or b"{}")
    ok = lost == 0 and dup == 0 and extra == 0 and in_fresh == at_remote and \
        ver.get("ok") is True
    per = sorted(acked.values())
    note = (f"{total} acknowledged in {elapsed:.1f} s by {len(agents)} processes "
            f"(per agent {per[0]}..{per[-1]}; bus.log p50 {lat50:.0f} ms, worst p95 "
            f"{lat95:.0f} ms); at the remote before the final sync {before}, after "
            f"{at_remote} (syncs {sync_s:.1f} s); fresh clone {in_fresh}, verify "
            f"{'ok' if ver.get('ok') is True else 'FAILED'}; failed calls "
            f"{sum(map(len, failed.values()))}" + (f" (first: {first_err})" if first_err else ""))
    return [
        Row(key="remote_log_rate", metric=f"{len(agents)} agents on {CLONES} clones logging: "
            "aggregate", unit="ev/s", value=rate, n=total,
            target=f">= {TARGET_EVENTS_PER_S:g} ev/s",
            passed=rate >= TARGET_EVENTS_PER_S, note=note,
            extra={"acked": acked, "seconds": elapsed, "at_remote_before_sync": before,
                   "at_remote": at_remote, "in_fresh_clone": in_fresh, "sync_seconds": sync_s,
                   "latency_ms_p50_median": lat50, "latency_ms_p95_max": lat95}),
        Row(key="remote_log_vs_bare", metric="  same, against a bare commit + push per event",
            unit="ev/s", value=rate, reference="git commit-tree + git push per event, "
            "same 16 processes on 4 clones, same daemon, just before", ref_value=floor_rate,
            ratio=rate / floor_rate if floor_rate else None, target="ratio >= 2 (issue 14)",
            passed=floor_rate > 0 and rate / floor_rate >= 2.0, n=total,
            note=f"the reference's own acknowledged pushes missing at the remote: {floor_lost}"),
        Row(key="remote_log_lost", metric="  acknowledged events missing at the remote",
            unit="events", value=float(lost), n=total, target="0 (and 0 duplicated)",
            passed=ok,
            note=(f"lost {lost}, duplicated {dup}, unexpected {extra}, failed-call events "
                  f"present {unknown}; remote {at_remote} = fresh clone {in_fresh}: "
                  f"{in_fresh == at_remote}")),
    ]


# -- cross-clone race ------------------------------------------------------------------------

def _holders(repo: Path, ctx: Ctx) -> dict[str, tuple[str, str]]:
    """task -> (holder, oid) of every claim ref in `repo`."""
    res = git(repo, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(contents)%00",
              "refs/repobus/claims/", env=ctx.env)
    out = {}
    for chunk in res.stdout.split(b"\x00\n"):
        if not chunk.strip(b"\n"):
            continue
        name, oid, body = chunk.lstrip(b"\n").split(b"\x00", 2)
        rec = json.loads(body.split(b"\n", 1)[0])
        out[name.decode().rsplit("/", 1)[-1]] = (str(rec.get("agent_id")), oid.decode())
    return out


def _race(ctx: Ctx, daemon: Daemon, base: Path, s: RemoteSizes) -> list[Row]:
    bare = _bare(ctx, base, "race.git")
    clones = [_clone(ctx, daemon.url("race.git"), ctx.root / f"race-clone{k}")
              for k in range(CLONES)]
    agents = [f"xracer-{k}-{j}" for k in range(CLONES) for j in range(PER_CLONE)]
    rounds = s.race_rounds
    race = run_race(ctx, clones, agents, rounds, prefix="X", round_timeout=60)
    for c in clones:
        _sync(ctx, c)
    served = _holders(bare, ctx)
    views = [_holders(c, ctx) for c in clones]
    wrong_holder = [t for t, a in race.won_by.items() if served.get(t, ("?", ""))[0] != a]
    disagree = [t for t in served if any(v.get(t) != served[t] for v in views)]
    ver = json.loads(_run([ctx.exe, "verify", "--json"], clones[0], ctx.env, ok=(0, 1)) or b"{}")
    good = race.one_winner - len(wrong_holder)
    errors = race.errors
    note = f"{len(errors)} bad rounds" + (f"; first: {errors[0]}" if errors else "")
    note += (f"; after sync, clones disagreeing with the remote on {len(disagree)} of "
             f"{len(served)} tasks; remote holder != reported winner in {len(wrong_holder)}; "
             f"verify {'ok' if ver.get('ok') is True else 'FAILED'}")
    ok = good == rounds and not disagree and ver.get("ok") is True
    return [
        Row(key="remote_race16", metric="cross-clone 16-way race (4 clones x 4 processes)",
            unit="rounds", value=float(good), n=rounds, target=f"{rounds} of {rounds}",
            passed=ok, note=note,
            extra={"errors": errors[:20], "disagree": disagree[:20],
                   "wrong_holder": wrong_holder[:20]}),
        Row(key="remote_race16_round", metric="  round time (release to 16th answer)",
            unit="ms", value=median(race.round_ms), value_p95=p95(race.round_ms),
            n=len(race.round_ms)),
        Row(key="remote_race16_claim", metric="  bus.claim() latency in a racer", unit="ms",
            value=median(race.claim_ms), value_p95=p95(race.claim_ms),
            reference="uncontended remote claim", ref_value=ctx.facts.get("remote_claim_ms"),
            ratio=(median(race.claim_ms) / ctx.facts["remote_claim_ms"]
                   if ctx.facts.get("remote_claim_ms") else None), n=len(race.claim_ms)),
    ]


def bench_remote(ctx: Ctx) -> list[Row]:
    s = QUICK if ctx.quick else FULL
    base = ctx.root / "served"
    base.mkdir()
    daemon = Daemon(ctx, base)
    daemon.start()
    rows: list[Row] = []
    try:
        ctx.log(f"  git daemon pid {daemon.proc.pid if daemon.proc else '?'} on "
                f"127.0.0.1:{daemon.port}")
        rows += _claim_latency(ctx, daemon, base, s)
        ctx.facts["remote_claim_ms"] = rows[-1].value
        ctx.log(f"  remote claim: {rows[-1].value:.1f} ms vs push {rows[-1].ref_value:.1f} ms")
        rows += _logging(ctx, daemon, base, s)
        ctx.log(f"  logging: {rows[-3].value:.1f} ev/s; bare commit + push "
                f"{rows[-2].ref_value or 0:.1f} ev/s")
        rows += _race(ctx, daemon, base, s)
    finally:
        daemon.stop()
    return rows
