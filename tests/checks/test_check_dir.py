"""`repobus check --dir DIR` (issue 16, item 6): passes on a healthy git-backend bus's own
`_bus/` mirror and on `export --to DIR` output, still names an edited record there, and names
paths under DIR as given."""

from __future__ import annotations

import json
from pathlib import Path


def _busy(repo: Path, cli) -> None:  # type: ignore[no-untyped-def]
    steps = [("a1", "claim", "--task", "T-1"), ("a2", "claim", "--task", "T-2")]
    for n in range(3):
        steps += [
            ("a1", "log", "--event", "status", "--task", "T-1", "--summary", f"s{n}"),
            ("a2", "log", "--event", "note", "--summary", f"b{n}"),
            ("a1", "send", "--task", "T-1", "--type", "request", "--summary", f"m{n}"),
            ("a2", "send", "--task", "T-2", "--type", "request", "--summary", f"x{n}"),
        ]
    steps += [
        ("a1", "renew", "--task", "T-1"),
        ("a1", "release", "--task", "T-1", "--status", "done"),
    ]
    assert cli("init", cwd=repo).code == 0
    for agent, *args in steps:
        res = cli(*args, cwd=repo, agent=agent)
        assert res.code == 0, (args, res.err)


def test_check_dir_passes_on_the_mirror_and_on_export(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _busy(repo, cli)
    res = cli("check", "--dir", "_bus", cwd=repo)
    assert res.code == 0, res.out + res.err
    assert "6 messages" in res.out and "6 events" in res.out and "2 claims" in res.out
    out = tmp_path / "exported"
    assert cli("export", "--to", str(out), cwd=repo).code == 0
    res = cli("check", "--dir", str(out), cwd=repo)
    assert res.code == 0, res.out + res.err


def test_check_dir_names_an_edit_under_dir(repo: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    _busy(repo, cli)
    out = tmp_path / "exported"
    assert cli("export", "--to", str(out), cwd=repo).code == 0
    log = out / "events" / "events.jsonl"
    lines = log.read_text().splitlines()
    first = next(i for i, ln in enumerate(lines) if json.loads(ln)["summary"] == "s0")
    rec = json.loads(lines[first])
    rec["summary"] = "forged"
    lines[first] = json.dumps(rec, sort_keys=True)
    log.write_text("\n".join(lines) + "\n")
    res = cli("check", "--dir", str(out), cwd=repo)
    assert res.code == 1
    assert f"{out}/events/events.jsonl" in res.out and "was edited" in res.out
    assert "_bus/" not in res.out
    (out / "claims" / "T-1.json").write_text("{not json")
    res = cli("check", "--dir", str(out), cwd=repo)
    assert res.code == 1 and f"{out}/claims/T-1.json" in res.out, res.out
