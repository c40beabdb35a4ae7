"""Section `transports` (issue 12): repobus over smart HTTP (Apache + `git http-backend`,
basic auth), as a team deploys it.

- CLI claim over HTTP: `repobus claim --task T` (the console script, a new task each time),
  interleaved with a bare `git push --porcelain --force-with-lease=REF: origin OID:REF` of one
  new ref from the same clone to the same server; target: ratio <= 2;
- a refused push ends at once: `repobus claim` against a server whose pre-receive hook refuses
  refs/repobus/*, and with a read-only credential (HTTP 403): exit code, the server's words in
  the message, how many pushes reached the server (the hook counts its runs), and the time,
  against the 2 s the issue allows (ratio = time / 2 s; target <= 1).

The servers come from tests/servers.py (the suite's own fixtures), started and stopped by PID.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks._common import EMPTY_TREE, git, median
from benchmarks.bench import Ctx, Row, _latency_row, _pair, _run
from benchmarks.bench_remote import _bare

TESTS = Path(__file__).resolve().parent.parent / "tests"
REFUSED_BUDGET_MS = 2000.0


def _servers():  # type: ignore[no-untyped-def]
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import servers

    return servers


def _clone(ctx: Ctx, server: object, name: str, dest: Path, user: str = "writer") -> Path:
    cfg = server.clone_config(dest, user)  # type: ignore[attr-defined]
    opts = [a for k, v in cfg.items() for a in ("-c", f"{k}={v}")]
    git(ctx.root, "clone", "-q", *opts, server.url(name), str(dest), env=ctx.env)  # type: ignore[attr-defined]
    _run([ctx.exe, "init", "--remote", "origin", "--agent", "bench"], dest, ctx.env)
    return dest


def _claim_over_http(ctx: Ctx, server: object, base: Path) -> Row:
    _bare(ctx, base, "claim.git")
    clone = _clone(ctx, server, "claim.git", ctx.root / "http-claim")
    n, warmup = (10, 2) if ctx.quick else (60, 5)
    oids = {
        i: git(clone, "commit-tree", EMPTY_TREE, "-m", f"p{i}", env=ctx.env).stdout.decode().strip()
        for i in range(-warmup, n)
    }

    def claim(i: int) -> None:
        _run([ctx.exe, "claim", "--task", f"H-{i + 100}"], clone, ctx.env)

    def bare_push(i: int) -> None:
        ref = f"refs/bench/push-{i + 100}"
        res = subprocess.run(
            [
                "git",
                "push",
                "--porcelain",
                f"--force-with-lease={ref}:",
                "origin",
                f"{oids[i]}:{ref}",
            ],
            cwd=clone,
            env=ctx.env,
            capture_output=True,
        )
        if res.returncode != 0:
            raise RuntimeError(f"reference push failed: {res.stderr.decode().strip()}")

    vals, refs = _pair(n, warmup, claim, bare_push)
    served = (
        git(
            base / "claim.git",
            "for-each-ref",
            "--format=%(refname)",
            "refs/repobus/claims/",
            env=ctx.env,
        )
        .stdout.decode()
        .split()
    )
    return _latency_row(
        "transports.http_cli_claim",
        "CLI claim over smart HTTP (Apache, basic auth)",
        vals,
        "bare git push --force-with-lease of one ref, same transport",
        refs,
        2.0,
        note=f"{len(served)} claims at the server (expected {n + warmup})",
    )


def _refused(ctx: Ctx, server: object, base: Path, servers: object) -> list[Row]:
    rows = []
    hooked = _bare(ctx, base, "hooked.git")
    _bare(ctx, base, "readonly.git")
    cases = [
        ("hook", _clone(ctx, server, "hooked.git", ctx.root / "http-hooked"), 8),
        ("403", _clone(ctx, server, "readonly.git", ctx.root / "http-readonly", "reader"), 7),
    ]
    counter = hooked / "hooks" / "pre-receive"
    servers.install_refusing_hook(hooked)  # type: ignore[attr-defined]
    text = counter.read_text()
    counter.write_text(text.replace("\n", '\necho run >> "$GIT_DIR/runs"\n', 1))
    for what, clone, want in cases:
        times, codes, words = [], set(), True
        for i in range(3 if ctx.quick else 10):
            t0 = time.perf_counter()
            res = subprocess.run(
                [ctx.exe, "claim", "--task", f"R-{i}"],
                cwd=clone,
                env=ctx.env,
                capture_output=True,
                text=True,
            )
            times.append((time.perf_counter() - t0) * 1000)
            codes.add(res.returncode)
            words &= ("not allowed" in res.stderr) if what == "hook" else ("403" in res.stderr)
        runs = (hooked / "runs").read_text().count("run") if what == "hook" else None
        value = median(times)
        rows.append(
            Row(
                key=f"transports.refused_{what}",
                metric=f"claim refused by the server ({what})",
                unit="ms",
                value=value,
                value_p95=max(times),
                reference="the issue's 2 s budget",
                ref_value=REFUSED_BUDGET_MS,
                ratio=value / REFUSED_BUDGET_MS,
                target="ratio <= 1",
                target_max=1.0,
                n=len(times),
                note=f"exit codes {sorted(codes)} (want {want}); server's words shown: {words}"
                + (
                    f"; pushes that reached the hook: {runs} for {len(times)} claims"
                    if runs
                    else ""
                ),
            ).judge()
        )
        if codes != {want} or not words or (runs is not None and runs != len(times)):
            rows[-1].passed = False
    return rows


def bench_transports(ctx: Ctx) -> list[Row]:
    servers = _servers()
    reason = servers.missing("http")
    if reason is not None:
        raise RuntimeError(f"smart HTTP cannot run here: {reason}")
    base = ctx.root / "served-http"
    base.mkdir()
    with servers.HttpServer(base) as server:
        rows = [_claim_over_http(ctx, server, base)]
        rows += _refused(ctx, server, base, servers)
    return rows
