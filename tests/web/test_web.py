"""The dashboard in a real browser: Playwright drives headless Debian Chromium against
`repobus serve`, started as a subprocess on a free loopback port and stopped by PID."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import servers
from conftest import run_console

from repobus.bus import open_bus

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass
class Server:
    url: str
    token: str | None
    proc: subprocess.Popen[str]
    info: dict[str, Any]


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    got: list[str] = []
    reader = threading.Thread(
        target=lambda: got.append(proc.stdout.readline()),  # type: ignore[union-attr]
        daemon=True,
    )
    reader.start()
    reader.join(timeout)
    return got[0] if got else ""


@pytest.fixture
def serve(repo: Path, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start `repobus serve --port 0 --json ARGS` in `repo`; every server is stopped by PID."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> Server:
        err = tmp_path / f"serve-{len(started)}.err"
        log = err.open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "repobus", "serve", "--port", "0", "--json", *args],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        log.close()
        started.append(proc)
        line = _first_line(proc, 30)
        assert line, f"serve printed nothing; stderr: {err.read_text()}"
        info = json.loads(line)
        assert "--host" in args or info["host"] == "127.0.0.1"
        return Server(info["url"], info["token"], proc, info)

    yield start
    for proc in started:
        servers.stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1300, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def _seed(cli: Callable[..., Any], repo: Path) -> None:
    assert cli("claim", "--task", "QUEUE-001", cwd=repo, agent="codex-1").code == 0
    assert cli("claim", "--task", "QUEUE-002", cwd=repo, agent="claude-2").code == 0
    assert (
        cli(
            "pause",
            "--task",
            "QUEUE-002",
            "--notes",
            "crashed; tests half done",
            cwd=repo,
            agent="claude-2",
        ).code
        == 0
    )
    assert (
        cli(
            "log",
            "--event",
            "status",
            "--summary",
            "started anchors",
            "--task",
            "QUEUE-001",
            cwd=repo,
            agent="codex-1",
        ).code
        == 0
    )


def _expired_claim(cli: Callable[..., Any], repo: Path, task: str, agent: str) -> None:
    """A claim whose 1 s lease has ended (grace 0), waited for by polling, boundedly."""
    subprocess.run(["git", "config", "repobus.leaseGrace", "0"], cwd=repo, check=True)
    assert cli("claim", "--task", task, "--ttl", "1s", cwd=repo, agent=agent).code == 0
    for _ in range(100):
        if _claim(cli, repo, task)["lease_state"] == "expired":
            return
        threading.Event().wait(0.1)
    raise AssertionError(f"the 1 s lease of {task} did not expire within 10 s")


def _wait_live(page: Any) -> None:
    page.wait_for_function(
        "document.getElementById('live-state').className === 'on'", timeout=10_000
    )


def _claim(cli: Callable[..., Any], repo: Path, task: str) -> dict[str, Any]:
    data = cli("status", "--json", cwd=repo).json
    return next(c for c in data["claims"] if c["task_id"] == task)


def test_overview_lists_claims_and_shows_a_new_event_without_reload(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    _expired_claim(cli, repo, "QUEUE-003", "gemini-4")
    srv = serve()
    page.goto(srv.url)
    assert "lease expired" in page.locator('tr[data-task="QUEUE-003"]').inner_text()
    row1 = page.locator('tr[data-task="QUEUE-001"]')
    row2 = page.locator('tr[data-task="QUEUE-002"]')
    assert "codex-1" in row1.inner_text() and "active" in row1.inner_text()
    assert "paused by claude-2: crashed; tests half done" in row2.inner_text()
    assert "left" in row1.inner_text()
    _wait_live(page)
    page.evaluate("window.__sameDocument = true")
    done = run_console(
        "log",
        "--event",
        "note",
        "--summary",
        "appeared-live-7f3",
        "--task",
        "QUEUE-001",
        cwd=repo,
        agent="codex-1",
    )
    assert done.returncode == 0, done.stderr
    page.get_by_text("appeared-live-7f3").first.wait_for(timeout=5_000)
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-overview.png"), full_page=True)


def test_filter_narrows_the_event_stream(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    assert (
        cli("log", "--event", "note", "--summary", "from claude", cwd=repo, agent="claude-2").code
        == 0
    )
    srv = serve()
    page.goto(srv.url + "events")
    assert page.locator("tr.ev").count() == 2
    page.fill('input[name="agent"]', "claude-2")
    page.click("form.filters button")
    page.wait_for_url("**/events?agent=claude-2**")
    rows = page.locator("tr.ev")
    assert rows.count() == 1
    assert rows.first.get_attribute("data-agent") == "claude-2"
    assert "started anchors" not in page.inner_text("#live")


def test_task_page_shows_takeover_with_fencing_tokens_and_thread(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    assert cli("claim", "--task", "QUEUE-002", cwd=repo, agent="codex-3").code == 0
    open_bus(repo).send("codex-3", "QUEUE-002", "comment", "picking it up")
    srv = serve()
    page.goto(srv.url + "task/QUEUE-002")
    history = page.locator("section", has_text="Claim history").inner_text()
    assert "takeover" in history and "from claude-2" in history
    thread = page.locator("section", has_text="Message thread").inner_text()
    assert "picking it up" in thread


def test_pause_from_the_page_shows_in_repobus_status(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    srv = serve("--allow-writes", "--agent", "alice")
    assert srv.token
    page.goto(f"{srv.url}?token={srv.token}")
    assert "token=" not in page.url, "the token stays out of the address bar"
    asked: list[str] = []
    page.on("dialog", lambda d: (asked.append(d.message), d.accept()))
    row = page.locator('tr[data-task="QUEUE-001"]')
    row.locator('input[name="notes"]').fill("stop: wrong approach")
    row.get_by_role("button", name="Pause").click()
    page.locator(".flash").wait_for(timeout=10_000)
    assert asked and "QUEUE-001" in asked[0], "the page asked before pausing"
    assert "pause QUEUE-001: done as alice" in page.inner_text(".flash")
    claim = _claim(cli, repo, "QUEUE-001")
    assert claim["status"] == "paused"
    assert claim["by"] == "alice" and claim["notes"] == "stop: wrong approach"


def test_write_without_the_token_is_refused(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    srv = serve("--allow-writes")
    page.goto(srv.url)
    row = page.locator('tr[data-task="QUEUE-001"]')
    row.locator('input[name="notes"]').fill("sneaky")
    page.on("dialog", lambda d: d.accept())
    with page.expect_response(lambda r: "/act/pause" in r.url) as got:
        row.get_by_role("button", name="Pause").click()
    assert got.value.status == 403
    assert "refused" in page.inner_text("main")
    wrong = page.request.post(
        srv.url + "act/pause",
        form={"task": "QUEUE-001", "notes": "x"},
        headers={"Authorization": "Bearer wrong", "Accept": "application/json"},
    )
    assert wrong.status == 403 and wrong.json()["kind"] == "refused"
    assert _claim(cli, repo, "QUEUE-001")["status"] == "active"


def test_read_only_dashboard_refuses_writes_and_shows_no_forms(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    _seed(cli, repo)
    srv = serve()
    page.goto(srv.url)
    assert page.locator("form.act").count() == 0
    res = page.request.post(
        srv.url + "act/release", form={"task": "QUEUE-001"}, headers={"Accept": "application/json"}
    )
    assert res.status == 403 and "read-only" in res.json()["error"]
    assert _claim(cli, repo, "QUEUE-001")["status"] == "active"


def test_manager_report_page_shows_the_newest_report(
    repo: Path, cli: Callable[..., Any], serve: Callable[..., Server], page: Any
) -> None:
    folder = repo / "_report" / "manager"
    folder.mkdir(parents=True)
    (folder / "manager-report-20250101T000000Z.md").write_text("# old report\n")
    (folder / "manager-report-20250102T000000Z.md").write_text("# new report\n<b>kept</b>\n")
    srv = serve()
    page.goto(srv.url + "report")
    text = page.inner_text("pre")
    assert "# new report" in text and "<b>kept</b>" in text


def _without(package: str, command: str, repo: Path) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; sys.modules[{package!r}] = None\n"
        f"from repobus.cli import main; raise SystemExit(main([{command!r}]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=60
    )


def test_serve_without_the_web_extra_exits_5(repo: Path) -> None:
    done = _without("starlette", "serve", repo)
    assert done.returncode == 5
    assert "the web extra is not installed: pip install '/path/to/repobus[web]'" in done.stderr


def test_import_repobus_loads_no_extra() -> None:
    code = (
        "import sys, repobus, repobus.cli.commands, repobus.bus, repobus.views\n"
        "bad = [m for m in ('starlette', 'uvicorn', 'mcp', 'playwright') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
