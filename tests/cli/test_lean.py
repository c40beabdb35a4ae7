"""The lean read path (repobus.cli.lean): `status --json` answered from a current index without
loading the CLI, equal to the full command, never stale; and the config parser it shares
with the rest of repobus, held equal to the regular-expression parser it replaced."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import claims_of_every_kind, git, run_console
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repobus.cli import lean
from repobus.git.config import read_config
from repobus.store import sql

# -- the config parser ---------------------------------------------------------------------------
# The parser repobus used before git.config.read_config, kept here as the reference.
_SECTION = re.compile(r"\s*\[\s*([A-Za-z0-9.-]+)\s*(?:\"([^\"]*)\")?\s*\]\s*(.*)$")
_KEY = re.compile(r"\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$")


def reference_sections(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0] if '"' not in raw else raw
        if not line.strip():
            continue
        m = _SECTION.match(line)
        if m:
            current = m.group(1).lower() + (f".{m.group(2)}" if m.group(2) else "")
            line = m.group(3)
            if not line.strip():
                continue
        k = _KEY.match(line)
        if k and current:
            value = (k.group(2) or "true").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            out.setdefault(current, {})[k.group(1).lower()] = value
    return out


_PIECES = st.sampled_from(
    [
        "[",
        "]",
        '"',
        "=",
        "#",
        ";",
        " ",
        "\t",
        "\u00a0",
        "\x0c",
        ".",
        "-",
        "repobus",
        "Ttl",
        "core",
        "x1",
        "9",
        "2h",
        "remote",
        "origin",
        "é",
        "k-2",
        "\\",
        "",
    ]
)
_LINE = st.lists(_PIECES, max_size=9).map("".join)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(_LINE, max_size=8))
def test_config_parser_matches_the_reference(tmp_path: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    path = tmp_path / "config"
    path.write_text(text, encoding="utf-8")
    assert read_config(str(path)) == reference_sections(text), text


def test_config_parser_reads_what_git_writes(repo: Path) -> None:
    git(repo, "config", "repobus.ttl", "15m")
    git(repo, "config", "repobus.leaseGrace", "30")
    git(repo, "config", "remote.origin.url", "git://127.0.0.1/x")
    got = read_config(str(repo / ".git" / "config"))
    assert got["repobus"] == {"ttl": "15m", "leasegrace": "30"}
    assert got["remote.origin"]["url"] == "git://127.0.0.1/x"
    assert read_config(str(repo / "no-such-file")) == {}


# -- status --json -------------------------------------------------------------------------------
def run_status(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`repobus status --json ARGS` as a console process, its imports listed on stderr."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "repobus", "status", "--json", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def status(cwd: Path, *args: str) -> tuple[dict[str, object], bool]:
    """Status's document, and whether the lean path answered (the full command imports the
    command table; the lean path does not)."""
    res = run_status(cwd, *args)
    assert res.returncode == 0, res.stderr[-2000:]
    lean = "repobus.cli.commands" not in res.stderr
    assert ("repobus.cli.lean" in res.stderr) or not lean
    return json.loads(res.stdout), lean


def full(cwd: Path, **opts: object) -> dict[str, object]:
    from repobus.bus import open_bus
    from repobus.views import overview as views

    got: dict[str, object] = json.loads(views.status_json(open_bus(cwd), **opts))  # type: ignore[arg-type]
    return got


def without_clock(doc: dict[str, object]) -> dict[str, object]:
    """The document without `lease_seconds_left` (it moves with the clock between reads)."""
    claims = [{k: v for k, v in c.items() if k != "lease_seconds_left"} for c in doc["claims"]]  # type: ignore[attr-defined]
    return {**doc, "claims": claims}


def settled(repo: Path) -> None:
    """Let the ref directories age past the trust window, then let one full read catch the
    index and the mirror up (what any command does)."""
    time.sleep(0.7)
    status(repo, "--limit", "1")


@pytest.fixture
def busy(repo: Path) -> Path:
    from repobus.bus import open_bus

    run = run_console("init", "--agent", "a1", cwd=repo)
    assert run.returncode == 0, run.stderr
    bus = open_bus(repo)
    bus.claim("a1", "T-1", ttl=3600)
    bus.claim("a2", "T-2", ttl=3600)
    bus.pause("a2", "T-2", notes="stuck")
    bus.claim("a3", "T-3", ttl=3600)
    bus.release("a3", "T-3")
    for i in range(12):
        bus.log(
            f"a{1 + i % 3}", "status", f"step {i} \u00e9\u2028", task="T-1" if i % 3 == 0 else None
        )
    return repo


@pytest.mark.parametrize(
    ("args", "opts"),
    [
        ((), {}),
        (("--limit", "5"), {"limit": 5}),
        (("--limit=0",), {"limit": 0}),
        (("--limit", "100"), {"limit": 100}),
    ],
)
def test_lean_status_equals_the_full_command(
    busy: Path, args: tuple[str, ...], opts: dict[str, object]
) -> None:
    settled(busy)
    doc, lean = status(busy, *args)
    assert lean, "the lean path did not answer on a current index"
    ref = full(busy, **opts)
    assert without_clock(doc) == without_clock(ref)
    left = {c["task_id"]: c["lease_seconds_left"] for c in doc["claims"]}  # type: ignore[index, union-attr]
    for c in ref["claims"]:  # type: ignore[union-attr]
        if c["lease_seconds_left"] is not None:  # type: ignore[index]
            assert abs(left[c["task_id"]] - c["lease_seconds_left"]) <= 2  # type: ignore[index, operator]
    assert [e["_index"] for e in doc["events"]] == list(range(len(doc["events"]), 0, -1))  # type: ignore[union-attr, index]


def test_lean_status_never_shows_a_stale_bus(busy: Path) -> None:
    """Every write from another worktree is seen by the very next status: a moved ref
    changes the fingerprint, and the lean path then leaves the answer to the full command."""
    other = busy.parent / "other"
    git(busy, "worktree", "add", "-q", "--detach", str(other))
    settled(busy)
    served = 0
    for i in range(6):
        w = subprocess.run(
            [sys.executable, "-m", "repobus", "log", "--event", "status", "--summary", f"w{i}"],
            cwd=other,
            env={**os.environ, "REPOBUS_AGENT": "a9"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert w.returncode == 0, w.stderr
        doc, _ = status(busy, "--limit", "1")
        assert doc["events"][-1]["summary"] == f"w{i}"  # type: ignore[index]
        if i % 2:
            settled(busy)  # the ref directories aged, the index and the mirror caught up
            doc, lean = status(busy, "--limit", "1")
            served += lean
            assert doc["events"][-1]["summary"] == f"w{i}"  # type: ignore[index]
    assert served >= 2, "the lean path never answered"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("--agent", "a1"), 0),
        (("--active-only",), 0),
        (("--limit", "-1"), 2),
        (("--limit", "x"), 2),
        (("--bogus",), 2),
    ],
)
def test_other_options_go_to_the_full_command(busy: Path, args: tuple[str, ...], code: int) -> None:
    settled(busy)
    res = run_status(busy, *args)
    assert res.returncode == code, res.stderr[-1000:]
    assert "repobus.cli.commands" in res.stderr or "repobus.cli.clickapp" in res.stderr
    if args == ("--agent", "a1"):
        assert {c["agent_id"] for c in json.loads(res.stdout)["claims"]} == {"a1"}
    if args == ("--active-only",):
        got = {c["task_id"]: c["status"] for c in json.loads(res.stdout)["claims"]}
        assert got == {"T-1": "active", "T-2": "paused"}


def test_the_lean_path_steps_aside(repo: Path, dir_repo: Path) -> None:
    """No index yet, the index turned off, the dir backend: the full command answers."""
    from repobus.bus import open_bus

    bus = open_bus(dir_repo)
    bus.claim("a1", "T-1")
    time.sleep(0.7)
    for _ in range(2):
        doc, lean = status(dir_repo)
        assert not lean and [c["task_id"] for c in doc["claims"]] == ["T-1"]  # type: ignore[index, union-attr]
    git(repo, "config", "repobus.backend", "git")
    git(repo, "config", "repobus.index", "false")
    open_bus(repo).claim("a1", "T-2")
    time.sleep(0.7)
    for _ in range(2):
        doc, lean = status(repo)
        assert not lean and [c["task_id"] for c in doc["claims"]] == ["T-2"]  # type: ignore[index, union-attr]
    assert not (repo / ".git" / "repobus" / sql.INDEX_FILE).exists()


def test_the_lean_path_reads_the_options_as_the_command_table_does() -> None:
    from repobus.cli.commands import TABLE
    from repobus.records import shown

    limit = next(o for o in TABLE["status"].opts if o.flag == "--limit")
    assert limit.default == lean.DEFAULT_LIMIT
    assert lean._options(["--json"]) == (limit.default, shown.PAGE_SIZE)
    assert lean._options(["--limit=3", "--json"]) == (3, shown.PAGE_SIZE)
    assert lean._options(["--json", "--page-size", "7"]) == (lean.DEFAULT_LIMIT, 7)
    for other in (
        ["--json", "--active-only"],
        ["--json", "--all"],
        ["--json", "--cursor", "all.54"],
        ["--json", "--page-size", "0"],
        ["--limit", "5"],
        ["--json", "--since", "x"],
        ["--json", "--limit", "-1"],
        ["--json", "--limit"],
        ["--json", "--limit", "\u0661"],
        ["--json", "-h"],
    ):
        assert lean._options(other) is None, other


# -- the status snapshot -------------------------------------------------------------------------
def _commit_claim(repo: Path, task: str, record: dict[str, object]) -> None:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    oid = git(repo, "commit-tree", "-m", text, "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
    git(repo, "update-ref", f"refs/repobus/claims/{task}", oid)


def test_the_snapshot_renders_what_the_python_view_shows(repo: Path) -> None:
    """Every kind of claim (active, in grace, expired, paused, done, legacy without a lease,
    records ending in a nested object or holding the view's own field names) and the event
    window, at several clock readings: the snapshot's document is the bytes of views.status's."""
    from repobus.bus import open_bus, with_config
    from repobus.records import models
    from repobus.store import snapbuild, snapshot
    from repobus.views import overview as views

    git(repo, "config", "repobus.leaseGrace", "5")
    bus = open_bus(repo)
    base = bus.clock()
    claims_of_every_kind(bus)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base))
    common = {"branch": "agent/x/t", "task_id": "T", "claimed_at": stamp}
    _commit_claim(
        repo,
        "T-legacy",
        {**common, "agent_id": "old", "status": "active", "claimed_at": "2020-01-01T00:00:00Z"},
    )
    _commit_claim(
        repo,
        "T-nested",
        {**common, "agent_id": "n", "status": "active", "zz": {"deep": {"er": [1, {"x": "}"}]}}},
    )
    _commit_claim(
        repo,
        "T-own",
        {
            **common,
            "agent_id": "o",
            "status": "active",
            "lease_state": "mine",
            "lease_seconds_left": 3,
            "_path": "p",
        },
    )
    _commit_claim(repo, "T-odd", {**common, "agent_id": "q", "status": ["not", "text"]})
    for i in range(snapshot.EVENTS + 5):
        bus.log("a1", "status", f"e{i} \u2028 \u00e9", task="T-active" if i % 7 == 0 else None)
    index = bus.store.index
    index.catch_up()
    db = index.db()
    text = snapbuild.build(db, "test", "-")
    assert snapshot.sig_of(text) == "test"
    for shift in (0, 3, 10, 7200):
        later = with_config(bus)
        later.clock = lambda shift=shift: base + shift  # type: ignore[misc]
        for limit in (0, 1, 20, snapshot.EVENTS):
            want = views.status(later, limit=limit)
            shown = snapshot.render(
                text,
                now=base + shift,
                ttl=bus.cfg.ttl,
                grace=bus.cfg.grace,
                limit=limit,
                filters=models.canonical(want["filters"]).decode(),
            )
            assert shown == models.canonical(want), (shift, limit)  # byte for byte
    # more events asked for than the snapshot keeps: it declines, the index answers
    assert (
        snapshot.render(text, now=base, ttl=1, grace=1, limit=snapshot.EVENTS + 1, filters="{}")
        is None
    )
    # a damaged snapshot declines too
    assert snapshot.render(text[:-40], now=base, ttl=1, grace=1, limit=1, filters="{}") is None
    assert snapshot.sig_of(b"garbage") is None


def test_the_snapshot_is_written_only_for_a_trusted_fingerprint(busy: Path) -> None:
    from repobus.store import snapshot

    path = Path(snapshot.path_in(str(busy / ".git")))
    path.unlink(missing_ok=True)
    status(busy)  # right after the writes: not trusted yet
    assert not path.exists()
    settled(busy)
    assert snapshot.sig_of(path.read_bytes())
    doc, lean = status(busy)
    assert lean
    path.write_text("not a snapshot", encoding="utf-8")
    doc2, lean = status(busy)
    assert not lean  # the full command answered ...
    assert without_clock(doc2)["claims"] == without_clock(doc)["claims"]
    assert snapshot.sig_of(path.read_bytes())  # ... and wrote it again
