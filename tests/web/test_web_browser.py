"""Every dashboard page in a real browser, at a desktop and a phone size, read-only and with
writes: 0 axe-core violations, no horizontal overflow at 390 px, and the overview's attention
comes first (the agents above the fold at 1440x900).  Debian's chromium through Playwright,
against `repobus serve` started as a subprocess on a realistic bus (tests/web/realistic.py)
and stopped by PID.  Screenshots go to $REPOBUS_ARTIFACTS when set, else the test's tmp dir;
their paths are printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers

pytest.importorskip("starlette", reason="the web extra is not installed")

import realistic  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
SIZES = {"desktop": (1440, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _start(repo: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "repobus", "serve", "--port", "0", "--json", *args],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(30)
    if not got or not got[0]:
        servers.stop(proc)
        raise AssertionError("repobus serve printed nothing within 30 s")
    return proc, json.loads(got[0])


def _artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("REPOBUS_ARTIFACTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _pages(tasks: dict[str, list[str]]) -> dict[str, str]:
    return {
        "overview": "",
        "task-takeover": f"task/{tasks['takeover'][0]}",
        "task-stale": f"task/{tasks['stale'][0]}",
        "events": "events",
        "timeline": "timeline",
        "report": "report",
        "error": "task/NO-SUCH-TASK",
    }


def _axe(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
    ]


@pytest.mark.parametrize("mode", ["read-only", "writes"])
def test_every_page_is_accessible_and_fits_a_phone(
    mode: str, browser: Any, repo: Path, tmp_path: Path
) -> None:
    init = [sys.executable, "-m", "repobus", "init", "--agent", "codex-1", "--no-remote"]
    subprocess.run(init, cwd=repo, check=True, capture_output=True)
    bus = realistic.build(repo)
    report = repo / "_report" / "manager" / "manager-report-20250102T000000Z.md"
    report.parent.mkdir(parents=True)
    report.write_text("# report\n" + "a long line of the report " * 40 + "\n" * 80)
    writes = ("--allow-writes", "--agent", "alice") if mode == "writes" else ()
    proc, info = _start(repo, *writes)
    out = _artifacts(tmp_path)
    problems: list[str] = []
    try:
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            if info.get("token"):
                page.goto(f"{info['url']}?token={info['token']}")
            for name, path in _pages(bus["tasks"]).items():
                page.goto(info["url"] + path)
                where = f"{mode} {size} /{path}"
                problems += [f"{where}: {v}" for v in _axe(page)]
                doc = page.evaluate("document.documentElement.scrollWidth")
                print(f"{where}: document {doc} px wide in a {width} px viewport")
                if doc > page.evaluate("window.innerWidth"):
                    problems.append(f"{where}: the document is {doc} px wide, wider than {width}")
                shot = out / f"{mode}-{size}-{name}.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot: {shot}")
            if size == "desktop":
                problems += _attention_first(page, info["url"], bus["tasks"], height)
            context.close()
    finally:
        servers.stop(proc)
    assert problems == [], "\n".join(problems)


def _attention_first(page: Any, url: str, tasks: dict[str, list[str]], fold: int) -> list[str]:
    """At 1440x900 the counts, what needs a person and the agents are above the fold."""
    page.goto(url)
    bad = []
    for sel in (".counts", "#attention h2", "#agents h2", '#agents tr[data-agent="gemini-5"]'):
        top = page.locator(sel).first.bounding_box()["y"]
        if top > fold:
            bad.append(f"overview: {sel} starts at {top} px, below the fold ({fold} px)")
    first = page.locator("#attention tr[data-task]").first.get_attribute("data-task")
    if first not in tasks["expired"]:
        bad.append(f"overview: the first claim needing a person is {first}, not an expired one")
    return bad
