"""Bad input: a one-line error naming the problem, the documented exit code, nothing written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import git, unchanged

from repobus.bus import open_bus

BAD_IDS = {
    "traversal": "../x",
    "space": "a b",
    "lock suffix": "x.lock",
    "dash": "-rf",
    "empty": "",
    "10 KB": "A" * 10240,
    "slash": "a/b",
    "ref chars": "a~1^2:3",
    "control": "a\x01b",
}


def one_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if not ln.startswith("hint:")]
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("label", sorted(BAD_IDS))
@pytest.mark.parametrize("command", ["claim", "renew", "pause", "release", "log"])
def test_unsafe_task_ids_are_refused(any_repo: Path, cli, label: str, command: str) -> None:  # type: ignore[no-untyped-def]
    args = {
        "claim": ["claim"],
        "renew": ["renew"],
        "pause": ["pause", "--notes", "n"],
        "release": ["release"],
        "log": ["log", "--event", "status", "--summary", "s"],
    }[command]
    with unchanged(any_repo):
        res = cli(*args, f"--task={BAD_IDS[label]}", cwd=any_repo, agent="a1")
    assert res.code == 2, res.err
    line = one_line(res.err)
    assert line.startswith("error:") and ("task id" in line)
    assert len(line) < 300


@pytest.mark.parametrize("label", sorted(BAD_IDS))
def test_unsafe_agent_ids_are_refused(repo: Path, cli, label: str) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        res = cli("claim", "--task", "T-1", f"--agent={BAD_IDS[label]}", cwd=repo)
    if label == "empty":  # an empty --agent falls through to the manifest, which is missing
        assert res.code == 5 and "agent id required" in res.err
        return
    assert res.code == 2 and "agent id" in one_line(res.err)


def test_dash_value_through_click_path(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        res = cli("claim", "--task", "-rf", cwd=repo, agent="a1")
    assert res.code == 2


def test_no_manifest_and_no_agent(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        res = cli("claim", "--task", "T-1", cwd=repo)
    assert res.code == 5
    assert one_line(res.err) == (
        "error: agent id required (supply --agent or populate AGENT_MANIFEST.json)"
    )


def test_malformed_manifest_counts_as_missing(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "AGENT_MANIFEST.json").write_text("{not json")
    with unchanged(repo):
        res = cli("log", "--event", "note", "--summary", "x", cwd=repo)
    assert res.code == 5 and "agent id required" in res.err


def test_outside_a_git_repository(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    plain = tmp_path / "plain"
    plain.mkdir()
    for args in (["status"], ["claim", "--task", "T"], ["verify"], ["init", "--agent", "a"]):
        res = cli(*args, cwd=plain, agent="a1")
        assert res.code == 5, args
        assert "not a git repository" in one_line(res.err)
    assert list(plain.iterdir()) == []


def test_errors_as_json(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("status", "--json", cwd=tmp_path)
    assert res.code == 5 and res.json["kind"] == "not_set_up"  # type: ignore[index]


def _forge_claim(repo: Path, task: str, message: bytes) -> None:
    oid = subprocess.run(
        ["git", "commit-tree", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"],
        cwd=repo,
        input=message,
        capture_output=True,
        check=True,
    ).stdout
    git(repo, "update-ref", f"refs/repobus/claims/{task}", oid.decode().strip())


@pytest.mark.parametrize("body", [b"{not json\n", b"[1, 2]\n", b'"str"\n'])
def test_malformed_git_claim_record(repo: Path, cli, body: bytes) -> None:  # type: ignore[no-untyped-def]
    _forge_claim(repo, "T-1", body)
    with unchanged(repo):
        for args in (["claim", "--task", "T-1"], ["status"], ["renew", "--task", "T-1"]):
            res = cli(*args, cwd=repo, agent="a1")
            assert res.code == 1, (args, res.err)
            assert "refs/repobus/claims/T-1" in one_line(res.err)
    assert cli("verify", cwd=repo).code == 1


DIR_FILES = {
    "claim": ("_bus/claims/T-1.json", ["claim", "--task", "T-1"]),
    "assignment": ("_bus/assignments/T-1.json", ["status"]),
    "events": ("_bus/events/events.jsonl", ["log", "--event", "note", "--summary", "x"]),
    "message": ("_bus/messages/T-1.jsonl", ["status"]),
}


@pytest.mark.parametrize("fmt", sorted(DIR_FILES))
def test_malformed_dir_files(dir_repo: Path, cli, fmt: str) -> None:  # type: ignore[no-untyped-def]
    rel, args = DIR_FILES[fmt]
    path = dir_repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"truncated": \n')
    with unchanged(dir_repo):
        res = cli(*args, cwd=dir_repo, agent="a1")
        chk = cli("check", cwd=dir_repo)
    if fmt in ("claim", "events"):
        assert res.code == 1 and "Invalid JSON" in one_line(res.err)
    assert chk.code == 1 and "Invalid JSON" in chk.out


def test_malformed_dir_assignment_blocks_assign(dir_repo: Path) -> None:
    path = dir_repo / "_bus/assignments/T-1.json"
    path.parent.mkdir(parents=True)
    path.write_text("{")
    from repobus.errors import CorruptError

    with unchanged(dir_repo), pytest.raises(CorruptError, match="Invalid JSON in _bus/assign"):
        open_bus(dir_repo).assign("mgr", "T-1", "eng")


def test_bad_ttl_and_limit(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        for ttl in ("0", "-5m", "soon", "5y"):
            res = cli("claim", "--task", "T-1", f"--ttl={ttl}", cwd=repo, agent="a1")
            assert res.code == 2 and "--ttl must be a positive duration" in res.err
        assert cli("status", "--limit", "-1", cwd=repo).code == 2
        assert cli("status", "--limit", "x", cwd=repo).code == 2


def test_bad_event_name_and_extra(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    with unchanged(repo):
        assert cli("log", "--event", "two words", "--summary", "x", cwd=repo, agent="a").code == 2
        assert cli("log", "--event", "", "--summary", "x", cwd=repo, agent="a").code == 2
        res = cli(
            "log", "--event", "e", "--summary", "x", "--extra", "novalue", cwd=repo, agent="a"
        )
        assert res.code == 2 and "invalid extra field 'novalue', expected key=value" in res.err


def test_export_to_a_file_is_a_usage_error(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (repo / "afile").write_text("x")
    with unchanged(repo):
        res = cli("export", "--to", "afile", cwd=repo)
    assert res.code == 2 and "must be a directory" in res.err


def test_verify_names_a_non_object_line(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    open_bus(dir_repo).log("a1", "note", "one")
    path = dir_repo / "_bus/events/events.jsonl"
    path.write_text(path.read_text() + '["not", "an", "object"]\n')
    res = cli("verify", cwd=dir_repo)
    assert res.code == 1 and "line 2" in res.err


def test_a_claim_missing_a_field_is_named(dir_repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    open_bus(dir_repo).claim("a1", "T-1")
    path = dir_repo / "_bus/claims/T-1.json"
    path.write_text(path.read_text().replace('"agent_id": "a1",', ""))
    with unchanged(dir_repo):
        res = cli("pause", "--task", "T-1", "--notes", "n", cwd=dir_repo, agent="a2")
    assert res.code == 1 and "Claim _bus/claims/T-1.json missing field 'agent_id'" in res.err
