"""`repobus init --agents-md codex|claude|both` (issue 15, item 7): the agents' instructions,
written between markers, idempotent, never touching text outside them; and the CLI's refusals
of a pause without evidence and of a stale fence, with their exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import snapshot

from repobus.playbook import agentsmd


def test_agents_md_writes_both_files_under_60_lines(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    res = cli("init", "--agents-md", "both", cwd=repo, agent="a1")
    assert res.code == 0, res.err
    for name in ("AGENTS.md", "CLAUDE.md"):
        text = (repo / name).read_text()
        assert text.startswith(agentsmd.START) and text.rstrip().endswith(agentsmd.END)
        assert len(text.splitlines()) < 60
        for words in ("repobus boot", "repobus claim", "--fence", "[log_event]", "--force"):
            assert words in text
    assert "wrote the repobus section of AGENTS.md" in res.out


@pytest.mark.parametrize(("which", "made"), [("codex", "AGENTS.md"), ("claude", "CLAUDE.md")])
def test_agents_md_writes_only_the_file_asked_for(repo: Path, cli, which: str, made: str) -> None:  # type: ignore[no-untyped-def]
    assert cli("init", "--agents-md", which, cwd=repo, agent="a1").code == 0
    assert sorted(p.name for p in repo.glob("*.md")) == [made]


def test_agents_md_is_idempotent_and_keeps_text_outside_the_markers(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("init", cwd=repo, agent="a1")
    before, after = "# Our rules\n\nBe kind.\n", "\n## Later\nmore text\n"
    old = f"{agentsmd.START}\nold words\n{agentsmd.END}"
    (repo / "AGENTS.md").write_text(before + old + after)
    assert cli("init", "--agents-md", "codex", cwd=repo, agent="a1").code == 0
    text = (repo / "AGENTS.md").read_text()
    assert text.startswith(before) and text.endswith(after) and "old words" not in text
    assert agentsmd.BODY in text
    unchanged = snapshot(repo)
    again = cli("init", "--agents-md", "codex", cwd=repo, agent="a1")
    assert again.code == 0 and "nothing changed" in again.out
    assert snapshot(repo) == unchanged


def test_agents_md_appends_to_a_file_without_markers(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("keep me")
    assert agentsmd.write(tmp_path, "claude") == ["updated the repobus section of CLAUDE.md"]
    assert (tmp_path / "CLAUDE.md").read_text() == "keep me\n\n" + agentsmd.section()
    assert agentsmd.write(tmp_path, "claude") == []


def test_agents_md_refuses_markers_out_of_order(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    cli("init", cwd=repo, agent="a1")
    (repo / "AGENTS.md").write_text(f"{agentsmd.END}\n{agentsmd.START}\n")
    res = cli("init", "--agents-md", "codex", cwd=repo, agent="a1")
    assert res.code != 0 and "out of order" in res.err
    assert cli("init", "--agents-md", "gemini", cwd=repo, agent="a1").code == 2


def test_pause_without_evidence_exits_3_naming_holder_and_when(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("claim", "--task", "T-1", cwd=repo, agent="a1").code == 0
    before = snapshot(repo)
    res = cli("pause", "--task", "T-1", "--notes", "n", cwd=repo, agent="a2")
    assert res.code == 3
    assert "cannot pause task T-1: a1 holds it" in res.err
    assert "last activity:" in res.err and "pausing becomes possible at" in res.err
    assert "--force --reason" in res.err
    assert snapshot(repo) == before
    no_reason = cli("pause", "--task", "T-1", "--notes", "n", "--force", cwd=repo, agent="a2")
    assert no_reason.code == 2 and "--reason" in no_reason.err
    forced = cli("pause", "--task", "T-1", "--notes", "n", "--force", "--reason", "stuck",
                 "--json", cwd=repo, agent="a2")  # fmt: skip
    assert forced.code == 0 and forced.json["force_reason"] == "stuck"  # type: ignore[index]
    inbox = cli("inbox", "--json", cwd=repo, agent="a1").json
    assert inbox["messages"][-1]["type"] == "pause_notice"  # type: ignore[index]


def test_a_stale_fence_on_an_unguarded_event_exits_3(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """The issue's report: `repobus log --event test --task FENCE-1 --fence 1` was accepted."""
    cli("claim", "--task", "FENCE-1", cwd=repo, agent="beta")
    cli("pause", "--task", "FENCE-1", "--notes", "n", cwd=repo, agent="beta")
    cli("claim", "--task", "FENCE-1", cwd=repo, agent="alpha")
    before = snapshot(repo)
    res = cli("log", "--event", "test", "--summary", "s", "--task", "FENCE-1", "--fence", "1",
              cwd=repo, agent="beta")  # fmt: skip
    assert res.code == 3 and "stale fencing token 1 for task FENCE-1" in res.err
    assert snapshot(repo) == before
