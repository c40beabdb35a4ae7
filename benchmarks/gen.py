"""Generate a large git-backend bus quickly with `git fast-import`.

The objects are byte-for-byte what `repobus.store.gitstore` writes:
- `refs/repobus/events/<agent>`: one commit chain per agent; each commit has the empty tree,
  author = committer = `<agent> <<agent>@repobus.invalid> <epoch> +0000` with epoch = the
  event's `ts`, and message = canonical JSON of the record + "\\n"; records carry `seq`
  (1-based per chain) and `prev_hash` (hash of the previous record of the chain; omitted on
  the first);
- `refs/repobus/claims/<TASK>`: one commit per task holding a claim record (seq 1), dated
  `updated_at`, authored by the claiming agent.

Usage:
    python -m benchmarks.gen PATH --events 100000 --tasks 500 --agents 8 [--jsonl FILE] [--check]

PATH is created and `git init`-ed when needed; its bus must be empty.  `--jsonl` also writes
the same events as the original scripts kept them (`_bus/events/events.jsonl` lines, oldest
first).  `--check` then runs `repobus verify`, `git fsck` and a byte-for-byte comparison of
the commits with what repobus itself would write.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from benchmarks._common import git, isolated_env

DAY = 86400
TTL = 2 * 3600
EVENT_NAMES = ("status", "note", "progress", "test", "commit", "audit", "proposal", "complete")


def _fmt(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _ident(who: str, epoch: int) -> bytes:
    return f"{who} <{who}@repobus.invalid> {epoch} +0000".encode()


def _commit(out: IO[bytes], ref: str, who: str, epoch: int, message: bytes,
            mark: int | None = None, parent: int | None = None) -> None:
    ident = _ident(who, epoch)
    out.write(b"commit " + ref.encode() + b"\n")
    if mark is not None:
        out.write(b"mark :%d\n" % mark)
    out.write(b"author " + ident + b"\ncommitter " + ident + b"\n")
    out.write(b"data %d\n" % len(message) + message + b"\n")
    if parent is not None:
        out.write(b"from :%d\n" % parent)
    out.write(b"deleteall\n\n")


def _ensure_repo(path: Path, env: dict[str, str]) -> None:
    """`git init` PATH unless PATH itself is a repository (a directory inside another
    repository is initialised too, never written into the enclosing one)."""
    path.mkdir(parents=True, exist_ok=True)
    bare = (path / "HEAD").is_file() and (path / "objects").is_dir()
    if not (path / ".git").exists() and not bare:
        git(path, "init", "-q", "-b", "main", env=env)


def generate(
    repo_path: str | Path,
    events: int,
    tasks: int,
    agents: int,
    seed: int = 0,
    *,
    days: int = 30,
    now: int | None = None,
    jsonl: str | Path | None = None,
    loose: bool = False,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write `events` events from `agents` agents and `tasks` claims into the bus of
    `repo_path` (created and initialised when needed; its bus must be empty).  Timestamps
    increase over the last `days` days.  With `jsonl`, also write the events there as
    `events.jsonl` lines.  With `loose`, unpack the objects into loose objects, as repobus
    leaves them.  Returns counts and timings."""
    from repobus.records import models  # the one canonical form; imported late (cheap CLI start)

    if events < 0 or tasks < 0 or agents < 1:
        raise ValueError("need events >= 0, tasks >= 0, agents >= 1")
    own_home = None
    if env is None:
        own_home = Path(tempfile.mkdtemp(prefix="repobus-gen-home-"))
        env = isolated_env(own_home)
    try:
        return _generate(Path(repo_path), events, tasks, agents, seed, days, now, jsonl,
                         loose, env, models)
    finally:
        if own_home is not None:
            shutil.rmtree(own_home, ignore_errors=True)


def _generate(path: Path, events: int, tasks: int, agents: int, seed: int, days: int,
              now: int | None, jsonl: str | Path | None, loose: bool,
              env: dict[str, str], models: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    _ensure_repo(path, env)
    existing = git(path, "for-each-ref", "--count=1", "refs/repobus/", env=env).stdout.strip()
    if existing:
        raise RuntimeError(f"{path} already has a bus (refs/repobus/...); use an empty repository")
    rng = random.Random(seed)
    now = int(time.time()) if now is None else int(now)
    start = now - days * DAY
    span = days * DAY - 3600  # leave the last hour for active claims
    names = [f"agent-{i + 1:02d}" for i in range(agents)]
    task_ids = [f"T-{i + 1:05d}" for i in range(tasks)]

    errfile = tempfile.TemporaryFile()  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done", "--date-format=raw"],
        cwd=path, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=errfile, bufsize=1 << 20,
    )
    assert proc.stdin is not None
    out = proc.stdin
    jl = open(jsonl, "w", encoding="utf-8") if jsonl else None  # noqa: SIM115
    last: dict[str, tuple[int, dict[str, Any]]] = {}  # agent -> (mark, record)
    seqs = dict.fromkeys(names, 0)
    try:
        for i in range(events):
            epoch = start + (i * span) // max(events, 1)
            agent = names[rng.randrange(agents)]
            name = EVENT_NAMES[rng.randrange(len(EVENT_NAMES))]
            rec: dict[str, Any] = {"ts": _fmt(epoch), "agent_id": agent, "event": name,
                                   "summary": f"{name} #{i + 1} by {agent}"}
            if task_ids:
                rec["task_id"] = task_ids[rng.randrange(tasks)]
            seqs[agent] += 1
            rec["seq"] = seqs[agent]
            prev = last.get(agent)
            if prev is not None:
                rec["prev_hash"] = models.record_hash(prev[1])
            mark = i + 1
            _commit(out, f"refs/repobus/events/{agent}", agent, epoch,
                    models.canonical(rec) + b"\n", mark, prev[0] if prev else None)
            last[agent] = (mark, rec)
            if jl is not None:
                jl.write(models.event_line(rec))
        done_until = int(tasks * 0.9)
        for j, task in enumerate(task_ids):
            agent = names[rng.randrange(agents)]
            if j < done_until:
                epoch = start + (j * span) // max(tasks, 1)
                status = "done"
            else:
                epoch = now - 3600 + ((j - done_until) * 3000) // max(tasks - done_until, 1)
                status = "active"
            claim = {
                "task_id": task, "agent_id": agent, "branch": f"agent/{agent}/{task.lower()}",
                "status": status, "claimed_at": _fmt(epoch),
                "lease_expires_at": _fmt(epoch + TTL), "fencing_token": 1, "op": "claim",
                "by": agent, "updated_at": _fmt(epoch), "seq": 1,
            }
            _commit(out, f"refs/repobus/claims/{task}", agent, epoch,
                    models.canonical(claim) + b"\n")
        out.write(b"done\n")
    except BrokenPipeError:
        pass
    finally:
        if jl is not None:
            jl.close()
        with contextlib.suppress(BrokenPipeError):
            out.close()
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        errfile.seek(0)
        err = errfile.read()
        errfile.close()
    if proc.returncode != 0:
        raise RuntimeError(f"git fast-import failed ({proc.returncode}): "
                           f"{err.decode(errors='replace').strip()}")
    if loose:
        _unpack(path, env)
    return {"repo": str(path), "events": events, "tasks": tasks, "agents": agents,
            "seconds": time.perf_counter() - t0, "jsonl": str(jsonl) if jsonl else None,
            "loose": loose}


def _unpack(path: Path, env: dict[str, str]) -> None:
    """Turn the pack fast-import wrote into loose objects (what repobus leaves behind)."""
    common = Path(git(path, "rev-parse", "--git-common-dir", env=env).stdout.decode().strip())
    if not common.is_absolute():
        common = (path / common).resolve()
    packdir = common / "objects" / "pack"
    with tempfile.TemporaryDirectory(prefix="repobus-gen-pack-") as tmp:
        packs = sorted(packdir.glob("pack-*.pack"))
        for p in packdir.glob("pack-*"):
            shutil.move(str(p), tmp)
        for p in packs:
            with open(Path(tmp) / p.name, "rb") as fh:
                res = subprocess.run(["git", "unpack-objects", "-q"], cwd=path, env=env,
                                     stdin=fh, capture_output=True)
            if res.returncode != 0:
                raise RuntimeError("git unpack-objects failed: " + res.stderr.decode())


def selfcheck(repo_path: str | Path, env: dict[str, str] | None = None) -> list[str]:
    """Problems found: `repobus verify`, `git fsck`, and the commits compared byte for byte
    with what repobus's own object writer produces for the same records."""
    from repobus.bus import open_bus
    from repobus.git import gitcmd
    from repobus.records import models
    from repobus.store import objects

    problems: list[str] = []
    path = Path(repo_path)
    gitcmd._ENV = None
    bus = open_bus(path)
    problems += [f"verify: {p.chain}: {p.where}: {p.what}" for p in bus.store.verify()]
    fsck = git(path, "fsck", "--no-progress", "--strict", env=env, check=False)
    noise = [ln for ln in (fsck.stdout + fsck.stderr).decode(errors="replace").splitlines()
             if ln.strip() and not ln.startswith("notice:")]
    if fsck.returncode != 0 or noise:
        problems.append(f"git fsck (exit {fsck.returncode}): " + "; ".join(noise))
    refs = git(path, "for-each-ref", "--format=%(refname)", "refs/repobus/", env=env)
    for ref in refs.stdout.decode().split()[:3] + refs.stdout.decode().split()[-2:]:
        log = git(path, "rev-list", "--max-count=50", ref, env=env).stdout.decode().split()
        for oid in log:
            raw = git(path, "cat-file", "commit", oid, env=env).stdout
            msg = raw.split(b"\n\n", 1)[1]
            rec = models.loads(msg.split(b"\n", 1)[0], oid)
            head = raw.split(b"\n\n", 1)[0].split(b"\n")
            parent = head[1].split()[1].decode() if head[1].startswith(b"parent ") else None
            who = str(rec.get("by") or rec.get("agent_id"))
            when = int(head[-1].split()[-2])
            want = objects.commit_body(parent, who, when, models.canonical(rec) + b"\n")
            if raw != want:
                problems.append(f"{ref}: commit {oid[:12]} differs from what repobus writes")
                break
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gen", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path")
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--jsonl", help="also write the events as events.jsonl here")
    ap.add_argument("--loose", action="store_true", help="leave loose objects, not a pack")
    ap.add_argument("--check", action="store_true", help="verify, fsck, compare bytes")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="repobus-gen-home-") as home:
        env = isolated_env(Path(home))
        info = generate(a.path, a.events, a.tasks, a.agents, a.seed, days=a.days,
                        jsonl=a.jsonl, loose=a.loose, env=env)
        print(json.dumps(info))
        if a.check:
            import os

            os.environ.update(env)
            problems = selfcheck(a.path, env)
            for p in problems:
                print(p, file=sys.stderr)
            print("check: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
            return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
