"""The generators of part 6 (bad input), shared by test_rel_bad_input.py and the runner:
seeded template repositories, a sandbox copy per example, command-line and stored-content
strategies, and the check every example ends with (exit code from the table, no traceback,
nothing written by a failed command).  See test_rel_bad_input.py for what is covered."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_lab import EMPTY_TREE, Outcome, cli, git, new_bare, new_repo

# 74: the disk refused a write (a generated path may point at /dev/null/x): docs/exit-codes.md
ALLOWED = {0, 1, 2, 3, 4, 5, 6, 74}
EXCLUDED = {"serve", "mcp", "demo"}
# A refused guarded command records why here (the original claim guard did; see conftest).
GUARD_LOG = "errors.jsonl"
# Exit 1 from these means "found problems" (a report was written), not a failed command; sync
# takes in what it fetched before it reports a lost offline claim (3) or a refused ref (1).
REPORTS = {"check", "verify", "heartbeat", "stale", "doctor", "plan check"}


# -- templates ----------------------------------------------------------------------------------
def _seed(repo: Path, backend: str) -> None:
    steps = [
        ["init", "--agent", "a1", "--no-remote"]
        + (["--backend", "dir"] if backend == "dir" else []),
        ["boot", "--summary", "start", "--no-sync", "--allow-dirty"],
        ["claim", "--task", "T-1"],
        ["claim", "--task", "T-2"],
        ["release", "--task", "T-2"],
        ["log", "--event", "status", "--summary", "working", "--task", "T-1"],
        ["log", "--event", "note", "--summary", "hello", "--extra", "k=v"],
        ["send", "--task", "T-1", "--type", "status", "--summary", "half done", "--to", "eng1"],
        ["assign", "--task", "T-3", "--engineer", "eng1", "--manager", "mgr"],
        ["plan", "new", "--task", "T-1", "--title", "A plan", "--id", "P-1", "--step", "one"],
        ["memory", "log", "--summary", "approved", "--last-event"],
        ["inbox", "--mark-read", "--agent", "eng1"],
    ]
    (repo / "queue").mkdir(exist_ok=True)
    (repo / "queue" / "QUEUE-001.md").write_text("# First task\n\nDo it.\n")
    for argv in steps:
        code, _, err = cli(*argv, cwd=repo, agent=None if argv[0] == "init" else "a1")
        if code != 0:
            raise RuntimeError(f"seeding {argv} failed ({code}): {err}")


def make_templates(base: Path) -> dict[str, Path]:
    """Seeded repositories under base/tpl: git, dir, and remote (a clone of ../bare.git)."""
    tpl = base / "tpl"
    if (tpl / "done").exists():
        return {k: tpl / k for k in ("git", "dir", "remote")}
    for backend in ("git", "dir"):
        _seed(new_repo(tpl / backend), backend)
    new_bare(tpl / "bare.git")
    git(tpl, "clone", "-q", "bare.git", "remote")
    git(tpl / "remote", "remote", "set-url", "origin", "../bare.git")  # survives a copy
    code, _, err = cli("init", "--remote", "origin", "--agent", "a1", cwd=tpl / "remote")
    assert code == 0, err
    for argv in (["claim", "--task", "T-1"], ["log", "--event", "note", "--summary", "x"]):
        assert cli(*argv, cwd=tpl / "remote", agent="a1")[0] == 0
    (tpl / "done").write_text("")
    return {k: tpl / k for k in ("git", "dir", "remote")}


class Sandbox:
    """A fresh copy of one template for one example; removed afterwards."""

    counter = 0

    def __init__(self, base: Path, kind: str) -> None:
        Sandbox.counter += 1
        self.dir = base / "ex" / f"{Sandbox.counter:06d}"
        src = base / "tpl"
        self.repo = self.dir / kind
        shutil.copytree(src / kind, self.repo, symlinks=True)
        self.bare = None
        if kind == "remote":
            self.bare = self.dir / "bare.git"
            shutil.copytree(src / "bare.git", self.bare, symlinks=True)

    def snapshot(self) -> dict[str, str]:
        """Every ref (of the repository and its remote) and every worktree file."""

        def refs(repo: Path, tag: str) -> dict[str, str]:
            text = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
            return {f"{tag}{ln.split()[0]}": ln.split()[1] for ln in text.splitlines()}

        out = refs(self.repo, "ref ")
        if self.bare is not None:
            out.update(refs(self.bare, "remote "))
        for p in self.dir.rglob("*"):
            rel = p.relative_to(self.dir)
            if (
                p.is_file()
                and ".git" not in rel.parts
                and "bare.git" not in rel.parts
                and p.name != GUARD_LOG
            ):
                st = p.stat()
                out[f"file {rel}"] = f"{st.st_size} {st.st_mtime_ns}"
        return out

    def written(self, before: dict[str, str], after: dict[str, str]) -> list[str]:
        """What changed, except what a fetch may change: remote-tracking refs, and local bus
        refs moved to exactly what the remote holds (a loser learns the winner)."""
        out = []
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key) or key.startswith(
                ("ref refs/remotes/", "ref refs/repobus-remote/")
            ):
                continue
            twin = "remote " + key[4:]
            if key.startswith("ref refs/repobus/") and after.get(key) == after.get(twin):
                continue
            out.append(f"{key}: {before.get(key)} -> {after.get(key)}")
        return out

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def run_checked(box: Sandbox, argv: list[str], agent: str | None) -> str | None:
    """Run `argv` in the box; a description of what went wrong, or None."""
    before = box.snapshot()
    code, out, err = cli(*argv, cwd=box.repo, agent=agent)
    what = f"argv={argv!r} agent={agent!r} -> exit {code}\nstderr: {err[-800:]}"
    if ("Traceback" in err or "Traceback" in out) and "--debug" not in argv:
        return "a traceback: " + what
    if code not in ALLOWED:
        return "an exit code outside the table: " + what
    name = " ".join(argv[:2]) if " ".join(argv[:2]) in REPORTS else argv[0]
    if code != 0 and not (code == 1 and name in REPORTS) and name != "sync":
        changed = box.written(before, box.snapshot())
        if changed:
            return f"a failed command wrote {changed[:4]}: " + what
    return None


# -- command lines ------------------------------------------------------------------------------
SAFE_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/"), max_size=40
)
# fmt: off
PATHS = st.sampled_from([
    "out", "_bus", "sub/dir", "../elsewhere", "..", ".", "", "a b", "nonexistent/x",
    "AGENT_MANIFEST.json", "_plans/P-1.plan.json", "/dev/null/x", "/proc/self/nonexistent",
    "queue/QUEUE-001.md",
])
GOOD = st.sampled_from([
    "T-1", "T-2", "T-3", "T-9", "QUEUE-001", "a1", "b1", "eng1", "mgr", "P-1", "status", "note",
    "complete", "done", "released", "paused", "90s", "15m", "2h", "0", "-5m", "5y",
    "99999999999999999999d", "2025-01-01T00:00:00Z", "2025-13-45T99:99:99Z", "k=v", "=v", "k=",
    "low", "high", "x" * 300, "-", "--", "-rf", "a..b", "x.lock", "T-1/sub", "ÄÖÜ✓", "\t", " ",
])
# fmt: on
INTS = st.one_of(st.integers(-5, 50), st.integers(-(10**30), 10**30)).map(str)
PATH_OPTS = {"--repo", "--to", "--dir", "--path", "--alert-dir", "--receipt", "--plan"}
PATH_ARGS = {"path", "plan"}


def _value(opt: Any) -> st.SearchStrategy[str]:
    if opt.flag in PATH_OPTS:
        return st.one_of(PATHS, GOOD)
    if opt.kind == "int":
        return st.one_of(INTS, GOOD, SAFE_TEXT)
    if opt.kind == "choice":
        return st.one_of(st.sampled_from(list(opt.choices)), GOOD)
    return st.one_of(GOOD, SAFE_TEXT, INTS)


@st.composite
def command_lines(draw: Callable[..., Any]) -> list[str]:
    from repobus.cli.commands import TABLE

    name = draw(st.sampled_from(sorted(n for n in TABLE if n not in EXCLUDED)))
    cmd = TABLE[name]
    argv = name.split()
    opts = list(cmd.all_opts())
    for _ in range(draw(st.integers(0, 7))):
        pick = draw(st.integers(0, 11))
        if pick <= 7:
            opt = draw(st.sampled_from(opts))
            flag = opt.short if opt.short and draw(st.booleans()) else opt.flag
            if opt.kind == "flag":
                argv.append(flag)
                continue
            value = draw(_value(opt))
            argv += [f"{flag}={value}"] if draw(st.booleans()) else [flag, value]
        elif pick <= 9 and cmd.args:
            arg = draw(st.sampled_from(cmd.args))
            argv.append(draw(PATHS if arg.dest in PATH_ARGS else st.one_of(GOOD, SAFE_TEXT)))
        elif pick == 10:
            argv.append(
                "--" + draw(st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12))
            )
        else:
            argv.append(draw(st.sampled_from(["-h", "--help", "--", "-", "-x", "--json"])))
    if name == "watch":
        argv = [a for a in argv if not a.startswith("--follow")]
    return argv


def fuzz_command_lines(
    base: Path, examples: int, derandomize: bool = True, collect: bool = False
) -> Outcome:
    out = Outcome(
        "bad input: argv",
        "hypothesis argv for {n} commands x 3 repo kinds: exit in the table (0-6, 74), "
        "no traceback, nothing written on error",
    )
    from repobus.cli.commands import TABLE

    out.checked = out.checked.format(n=len(TABLE) - len(EXCLUDED))
    make_templates(base)

    @_settings(examples, derandomize)
    @given(
        argv=command_lines(),
        kind=st.sampled_from(["git", "dir", "remote"]),
        agent=st.sampled_from([None, "a1", "b1"]),
    )
    def one(argv: list[str], kind: str, agent: str | None) -> None:
        box = Sandbox(base, kind)
        try:
            out.trials += 1
            problem = triage(out, run_checked(box, argv, agent))
        finally:
            box.close()
        _verdict(out, problem, collect)

    _run(out, one)
    return out


# Bugs reported and not yet fixed, each shown by a strict xfail test: {name: regex over the
# problem text}; counted, not failed, so the search goes on for new ones.  Remove an entry
# when its xfail test starts passing.  Every bug found so far is fixed (test_rel_bad_input.py
# keeps one regression test each).
KNOWN: dict[str, str] = {}


def triage(out: Outcome, problem: str | None) -> str | None:
    if problem is None:
        return None
    for name, pattern in KNOWN.items():
        if re.search(pattern, problem, re.S):
            out.count(f"known bug: {name}")
            return None
    return problem


def _settings(examples: int, derandomize: bool) -> Any:
    """Hypothesis settings of both generators: `examples` cases, no example database (each
    run is new), no deadline (commands start git)."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )


def _verdict(out: Outcome, problem: str | None, collect: bool) -> None:
    """A case's problem: collected (the runner's table goes on) or failed (hypothesis
    shrinks it)."""
    if collect and problem:
        out.fail(problem)
        return
    assert problem is None, problem


def _run(out: Outcome, test: Callable[[], None]) -> None:
    try:
        test()
    except AssertionError as exc:  # hypothesis re-raises the shrunk failing example
        out.fail(str(exc)[:2000])


# -- stored files -------------------------------------------------------------------------------
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), SAFE_TEXT),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4), st.dictionaries(SAFE_TEXT, kids, max_size=4)
    ),
    max_leaves=12,
)
# fmt: off
RAW = st.one_of(st.binary(max_size=200), st.sampled_from([
    b"", b"\n", b"{", b"[1, 2]", b'"str"', b"null", b"1e999999", b"NaN",
    b"[" * 50_000 + b"]" * 50_000, b"{" * 3000, b'{"a":1,"a":2}', b"\xff\xfe{}",
    b'{"task_id": "T-1"}' * 3, b"\x00\x00",
]))
# fmt: on


@st.composite
def mutated(draw: Callable[..., Any], original: bytes) -> bytes:
    """A stored file's new contents: the original JSON with a field changed or dropped, a
    line added, random JSON, or random bytes."""
    how = draw(st.integers(0, 3))
    whole: Any = None
    lines: list[str] = []
    try:
        whole = json.loads(original)
    except (ValueError, UnicodeDecodeError):
        try:
            lines = original.decode().splitlines()
            whole = None
            last = json.loads(lines[-1]) if lines else None
        except (ValueError, UnicodeDecodeError):
            last = None
    target = (
        whole
        if isinstance(whole, dict)
        else last
        if not isinstance(whole, dict) and lines and isinstance(last, dict)
        else None
    )
    if how <= 1 and target is not None:
        rec = dict(target)
        key = draw(st.sampled_from(sorted(rec) or ["x"]))
        if how == 0:
            rec.pop(key, None)
        else:
            rec[key] = draw(JSON)
        text = json.dumps(rec, ensure_ascii=False)
        if whole is not None:
            return text.encode()
        return ("\n".join(lines[:-1] + [text]) + "\n").encode()
    if how == 2:
        return original + json.dumps(draw(JSON)).encode() + b"\n"
    return draw(RAW)


def stored_targets(repo: Path) -> list[str]:
    """What a stored-file example may rewrite: worktree files, git dir files, bus refs."""
    files = sorted(
        str(p.relative_to(repo))
        for p in repo.rglob("*")
        if p.is_file()
        and ".git" not in p.relative_to(repo).parts
        and not str(p.relative_to(repo)).startswith("_bus/README")
    )
    gitdir = [".git/repobus/index.sqlite3", ".git/repobus/inbox/eng1.json"]
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/repobus/").split()
    return (
        files
        + [g for g in gitdir if (repo / g).exists()]
        + [f"ref:{r}" for r in refs]
        + [
            f"config:{k}"
            for k in (
                "ttl",
                "leaseGrace",
                "lockStale",
                "backend",
                "index",
                "remoteTimeout",
                "sessionMaxAge",
                "fetchInterval",
            )
        ]
    )


# fmt: off
READERS = [argv.split() for argv in [
    "status", "status --json", "check", "verify", "export --to out", "claim --task T-1",
    "claim --task T-2", "renew --task T-1", "release --task T-1", "pause --task T-1 --notes n",
    "log --event status --summary s --task T-1", "log --event note --summary s",
    "send --task T-1 --type status --summary s", "inbox", "inbox --agent eng1", "queue",
    "report --manager mgr", "assign --task T-3 --engineer e2 --manager mgr",
    "ack --task T-3 --agent eng1", "plan check P-1", "doctor", "reindex", "mirror",
    "watch --limit 5", "stale", "manifest list", "boot --summary again --no-sync --allow-dirty",
    "memory log --summary s", "pr --dry-run --task T-1", "heartbeat --dry-run", "sync",
]]
# fmt: on


def _store(box: Sandbox, target: str, data: bytes) -> None:
    repo = box.repo
    if target.startswith("config:"):
        text = data.decode("utf-8", "replace").replace("\x00", "").replace("\n", " ")[:200]
        subprocess.run(
            ["git", "config", f"repobus.{target[7:]}", text], cwd=repo, capture_output=True
        )
    elif target.startswith("ref:"):
        ref = target[4:]
        tip = git(repo, "rev-parse", ref)
        oid = (
            subprocess.run(
                ["git", "commit-tree", "-p", tip, EMPTY_TREE],
                cwd=repo,
                input=data or b"\n",
                capture_output=True,
            )
            .stdout.decode()
            .strip()
        )
        if oid:
            git(repo, "update-ref", ref, oid)
    else:
        path = repo / target
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.chmod(0o644)
        path.write_bytes(data)


def fuzz_stored_files(
    base: Path, examples: int, derandomize: bool = True, collect: bool = False
) -> Outcome:
    out = Outcome(
        "bad input: stored files",
        f"hypothesis contents for every stored file, "
        f"record ref and config key, then one of "
        f"{len(READERS)} commands: same checks",
    )
    templates = make_templates(base)
    targets = {k: stored_targets(p) for k, p in templates.items()}

    @_settings(examples, derandomize)
    @given(
        data=st.data(),
        kind=st.sampled_from(["git", "dir", "remote"]),
        argv=st.sampled_from(READERS),
    )
    def one(data: st.DataObject, kind: str, argv: list[str]) -> None:
        target = data.draw(st.sampled_from(targets[kind]), label="target")
        box = Sandbox(base, kind)
        try:
            original = b""
            if not target.startswith(("ref:", "config:")):
                original = (box.repo / target).read_bytes()
            elif target.startswith("ref:"):
                original = subprocess.run(
                    ["git", "log", "-1", "--format=%B", target[4:]],
                    cwd=box.repo,
                    capture_output=True,
                ).stdout
            content = data.draw(mutated(original), label="content")
            _store(box, target, content)
            out.trials += 1
            problem = triage(out, run_checked(box, argv, "a1"))
        finally:
            box.close()
        if problem:
            problem = f"{target} := {content[:200]!r}\n{problem}"
        _verdict(out, problem, collect)

    _run(out, one)
    return out
