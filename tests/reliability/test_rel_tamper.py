"""Part 4 - tampering, beyond tests/checks/test_verify.py (event chains edited, dropped, reordered)
and tests/store/test_remote.py (one rewritten event ref refused by sync).

What `verify` can detect, alone: a record edited, dropped or reordered in any chain (claims,
assignments, events, messages) whose other records were left as they were - each record
carries the hash of the one before it and its position (`seq`), so the first broken link is
named (chain, commit, seq).  What it cannot detect, alone: a chain re-forged consistently
(every later record re-chained with recomputed `prev_hash` and `seq`), a forged record
appended on top (records are not signed), or records dropped from the end.  Those are caught
only against a copy that saw the original: `sync` moves a bus ref only by fast-forward from
what this clone last saw of the remote, so any rewrite of a ref it had fetched - edited,
re-forged, truncated - is refused and named (exit 1), and nothing local changes.  A clone
that never saw the original (a fresh clone) has no such copy: it takes what the remote has,
and only `verify` can speak for it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rel_lab import EMPTY_TREE, Outcome, bus_refs, cli, clone, git, new_bare, new_repo
from tamper import CASES, rewrite_git_chain

Recs = list[dict[str, Any]]
KINDS = ("claims", "assignments", "events", "messages")
KEY = {"claims": "T-1", "assignments": "T-1", "events": "a1", "messages": "a1"}


def seed(repo: Path, kind: str) -> str:
    """Five records in one chain of `kind`; returns the ref."""
    from repobus.bus import open_bus, with_config

    bus = open_bus(repo)
    if kind == "claims":
        bus.claim("a1", "T-1")
        bus.renew("a1", "T-1")
        with_config(bus, pause_silence=0).pause("a2", "T-1", notes="pausing")
        bus.claim("a2", "T-1")
        bus.release("a2", "T-1")
    elif kind == "assignments":
        for i in range(5):
            bus.assign("mgr", "T-1", f"eng{i}", force=True)
    elif kind == "events":
        for i in range(5):
            bus.log("a1", "status", f"event {i + 1}")
    else:
        for i in range(5):
            bus.send("a1", "T-9", "comment", f"message {i + 1}")
    return f"refs/repobus/{kind}/{KEY[kind]}"


def records(repo: Path, ref: str) -> Recs:
    oids = git(repo, "rev-list", "--reverse", ref).split()
    return [json.loads(git(repo, "log", "-1", "--format=%B", o).splitlines()[0]) for o in oids]


def forge(repo: Path, recs: Recs) -> str:
    """A chain of `recs` re-linked consistently (prev_hash and seq recomputed); its tip."""
    from repobus.records import models

    parent, prev = None, None
    for rec in recs:
        rec = dict(rec)
        rec.pop("prev_hash", None)
        if prev is not None:
            rec["prev_hash"] = models.record_hash(prev)
        rec["seq"] = 1 if prev is None else int(prev["seq"]) + 1
        args = ["git", "commit-tree", EMPTY_TREE] + (["-p", parent] if parent else [])
        parent = (
            subprocess.run(
                args, cwd=repo, input=models.canonical(rec) + b"\n", capture_output=True, check=True
            )
            .stdout.decode()
            .strip()
        )
        prev = rec
    assert parent is not None
    return parent


def _edit_summary(recs: Recs) -> Recs:
    out = [dict(r) for r in recs]
    key = next(k for k in ("summary", "agent_id", "engineer") if k in out[2])
    out[2][key] = "mallory"
    return out


FORGERIES: dict[str, Callable[[Recs], Recs]] = {
    "edited": _edit_summary,
    "dropped": lambda r: r[:1] + r[2:],
    "reordered": lambda r: [r[0], r[2], r[1], *r[3:]],
    "truncated": lambda r: r[:3],
}


# -- verify alone ----------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("kind", ["claims", "assignments", "messages"])
def test_verify_names_the_record_in_every_kind_of_chain(
    tmp_path: Path, kind: str, case: str
) -> None:
    repo = new_repo(tmp_path / "r")
    ref = seed(repo, kind)
    change, pattern = CASES[case]
    rewrite_git_chain(repo, ref, change)
    code, out, err = cli("verify", cwd=repo)
    assert code == 1, out
    assert ref in err and re.search(r"commit [0-9a-f]{12}", err), err
    assert re.search(pattern, err), err


@pytest.mark.parametrize("kind", KINDS)
def test_verify_cannot_detect_a_consistently_reforged_chain(tmp_path: Path, kind: str) -> None:
    """Documents the limit: without a copy of the original, a re-forged chain verifies."""
    repo = new_repo(tmp_path / "r")
    ref = seed(repo, kind)
    git(repo, "update-ref", ref, forge(repo, _edit_summary(records(repo, ref))))
    assert "mallory" in json.dumps(records(repo, ref))
    assert cli("verify", cwd=repo)[0] == 0


# -- the remote ---------------------------------------------------------------------------------
def three_clones(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    bare = new_bare(tmp_path / "served" / "bus.git")
    url = f"file://{bare}"
    return (
        bare,
        clone(url, tmp_path / "writer"),
        clone(url, tmp_path / "victim"),
        clone(url, tmp_path / "mallory"),
    )


def force_push(mallory: Path, ref: str, change: Callable[[Recs], Recs]) -> str:
    """Mallory fetches `ref`, forges it and force-pushes the forgery (a plain git push -f)."""
    git(mallory, "fetch", "-q", "origin", f"+{ref}:refs/forge/orig")
    forged = forge(mallory, change(records(mallory, "refs/forge/orig")))
    git(mallory, "push", "-q", "--force", "origin", f"{forged}:{ref}")
    return forged


def _sync_refuses(out: Outcome | None, victim: Path, ref: str) -> list[str]:
    """Problems, if the victim's sync does not refuse the rewrite of `ref` and keep its bus."""
    before = bus_refs(victim, "refs/")
    code, text, err = cli("sync", cwd=victim)
    problems = []
    if code != 1 or not re.search(rf"rewrote {re.escape(ref)}\b.*refusing", err):
        problems.append(f"sync exited {code} without refusing {ref}: {err.strip()[:300]}")
    after = bus_refs(victim, "refs/")
    moved = {
        r
        for r in set(before) | set(after)
        if before.get(r) != after.get(r) and ref.rsplit("/", 1)[-1] in r and "incoming" not in r
    }
    if moved:
        problems.append(f"sync moved {sorted(moved)}")
    if cli("verify", cwd=victim)[0] != 0:
        problems.append("the victim's own bus no longer verifies")
    return problems


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
@pytest.mark.parametrize("kind", KINDS)
def test_sync_refuses_a_forced_rewrite_of_every_bus_ref(
    tmp_path: Path, kind: str, forgery: str
) -> None:
    _, writer, victim, mallory = three_clones(tmp_path)
    ref = seed(writer, kind)
    assert cli("sync", cwd=victim)[0] == 0
    force_push(mallory, ref, FORGERIES[forgery])
    assert _sync_refuses(None, victim, ref) == []
    assert _sync_refuses(None, writer, ref) == []  # the writer's own copy refuses it too


def test_claim_on_a_rewritten_claim_ref_is_refused(tmp_path: Path) -> None:
    _, writer, victim, mallory = three_clones(tmp_path)
    ref = seed(writer, "claims")
    assert cli("sync", cwd=victim)[0] == 0
    force_push(mallory, ref, FORGERIES["edited"])
    code, _, err = cli("claim", "--task", "T-1", cwd=victim, agent="v1")
    assert code == 1 and f"rewrote {ref}" in err, err


def test_a_fresh_clone_takes_the_forgery_and_only_verify_speaks(tmp_path: Path) -> None:
    bare, writer, _, mallory = three_clones(tmp_path)
    ref = seed(writer, "events")
    # an inconsistent edit (hash chain left broken) is named by verify in a fresh clone
    git(mallory, "fetch", "-q", "origin", f"+{ref}:refs/forge/orig")
    rewrite_git_chain(mallory, "refs/forge/orig", CASES["edited"][0])
    git(mallory, "push", "-q", "--force", "origin", f"refs/forge/orig:{ref}")
    fresh = clone(f"file://{bare}", tmp_path / "fresh")
    assert cli("sync", cwd=fresh)[0] == 0
    code, _, err = cli("verify", cwd=fresh)
    assert code == 1 and ref in err and "was edited" in err, err


def test_sync_reports_a_bus_ref_deleted_on_the_remote(tmp_path: Path) -> None:
    _, writer, victim, mallory = three_clones(tmp_path)
    ref = seed(writer, "events")
    assert cli("sync", cwd=victim)[0] == 0
    git(mallory, "push", "-q", "origin", f":{ref}")
    code, _, err = cli("sync", cwd=victim)
    assert code == 1 and ref in err, (code, err)


def test_losing_a_claim_after_logging_is_not_called_a_rewrite(tmp_path: Path) -> None:
    _, a, b, _ = three_clones(tmp_path)
    assert cli("log", "--event", "note", "--summary", "one", cwd=a, agent="a1")[0] == 0
    assert cli("sync", cwd=a)[0] == 0
    assert cli("log", "--event", "note", "--summary", "two", cwd=a, agent="a1")[0] == 0
    assert cli("claim", "--task", "T-1", cwd=b, agent="b1")[0] == 0
    code, _, err = cli("claim", "--task", "T-1", cwd=a, agent="a1")
    assert code == 3 and "already claimed by b1" in err, err


# -- for the runner ----------------------------------------------------------------------------
def run(workdir: Path) -> Outcome:
    """Every kind x every forgery: inconsistent ones named by verify (local), every forced
    rewrite refused by sync (remote); consistent re-forgeries documented as verify's limit."""
    out = Outcome(
        "tampering",
        "edit/drop/reorder named by verify (4 chain kinds); forced "
        "rewrites (edit/drop/reorder/truncate) refused by sync",
    )
    for n, kind in enumerate(KINDS):
        for case, (change, pattern) in sorted(CASES.items()):
            repo = new_repo(workdir / f"v{n}-{case.replace(' ', '-')}")
            ref = seed(repo, kind)
            rewrite_git_chain(repo, ref, change)
            code, _, err = cli("verify", cwd=repo)
            out.trials += 1
            if code != 1 or ref not in err or not re.search(pattern, err):
                out.fail(f"verify missed {case} in {kind}: {code} {err[:200]}")
        repo = new_repo(workdir / f"f{n}")
        ref = seed(repo, kind)
        git(repo, "update-ref", ref, forge(repo, _edit_summary(records(repo, ref))))
        out.count(
            "consistent re-forgeries that verify alone passes (documented limit)",
            cli("verify", cwd=repo)[0] == 0,
        )
        for forgery, change in sorted(FORGERIES.items()):
            _, writer, victim, mallory = three_clones(workdir / f"s{n}-{forgery}")
            ref = seed(writer, kind)
            cli("sync", cwd=victim)
            force_push(mallory, ref, change)
            out.trials += 1
            for p in _sync_refuses(out, victim, ref):
                out.fail(f"{kind}/{forgery}: {p}")
    return out
