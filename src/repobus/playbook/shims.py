"""The playbook's `tools/agent/` package, as thin hand-overs to repobus.

`repobus init --shims` writes one file per original tool.  Each is a few lines: it finds the
repository root from its own location (as the originals did) and passes its argv, unchanged,
to `repobus.cli.compat`, which accepts the original flags (FORMATS §1-§19).  A shim runs as
`python -m tools.agent.X`, `python tools/agent/X.py` or `tools/agent/X.py` (executable, with
a `python3` shebang) under any Python: when that Python has no repobus, the shim runs the
tool under the Python that wrote it (recorded by `init --shims`), else the tool's console
script beside the `repobus` on PATH (repobus/cli/bare.py), handing over its root as
$REPOBUS_REPO; its output and exit code are the tool's.

Invariants: a file is (re)written only when it is missing or carries the repobus marker, so
a team's own tool of the same name is never overwritten; writing twice changes nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from repobus import __version__
from repobus.store import files

MARKER = "# repobus-shim:"

TOOLS: dict[str, str] = {
    "bus_claim": "claim and release tasks (repobus claim / pause / release)",
    "bus_event": "log events (repobus log)",
    "bus_message": "post messages to task threads and inboxes (repobus send)",
    "bus_status": "summarise claims and recent events (repobus status)",
    "bus_watch": "show and follow the event log (repobus watch)",
    "bus_inbox": "read an agent's inbox with an unread cursor (repobus inbox)",
    "bus_heartbeat": "report missing managers and idle agents (repobus heartbeat)",
    "stale_claims": "list and release stale claims (repobus stale)",
    "session_boot": "announce a session: sync, handshake, peers, receipt (repobus boot)",
    "task_assign": "assign a task to an engineer (repobus assign)",
    "manager_report": "write the manager report (repobus report)",
    "manifest_helper": "list and swap manifest variants (repobus manifest)",
}

_TEMPLATE = '''#!/usr/bin/env python3
{marker} {name} (written by repobus {version}; `repobus init --shims` rewrites it)
"""tools/agent/{name}.py: {what}.
Hands its argv to repobus (in this Python, else in the one that ran `init --shims`, else the
repobus on PATH), with the same output and exit codes."""
import os, shutil, subprocess, sys
from pathlib import Path

ROOT, PYTHON = Path(__file__).resolve().parents[2], {python!r}


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        from repobus.cli.compat import run
    except ImportError:
        cmd = [os.path.join(os.path.dirname(shutil.which("repobus") or os.devnull), "{name}")]
        if os.path.isfile(PYTHON) and PYTHON != sys.executable:
            cmd = [PYTHON, "-m", "repobus.cli.bare", "{name}"]
        elif not os.path.isfile(cmd[0]):
            sys.stderr.write({missing!r} % sys.executable)
            return 5
        code = subprocess.call(cmd + args, env=dict(os.environ, REPOBUS_REPO=str(ROOT)))
        return code if code >= 0 else 128 - code
    return run("{name}", args, ROOT)


if __name__ == "__main__":
    sys.exit(main())
'''

# One text for a shim that finds no repobus: how to install it today (docs/playbook.md).
MISSING = (
    "error: repobus is not installed in %s, nor on PATH; install it from a clone "
    "(pipx install /path/to/repobus) or its git URL (pipx install 'git+https://<repobus-url>'); "
    "see docs/playbook.md, Set up\n"
)

_PACKAGE = '''{marker} package (written by repobus {version})
"""The playbook's agent tools, handed over to repobus (see `repobus --help`)."""
'''


@dataclass(frozen=True)
class Written:
    path: str
    action: str  # written | unchanged | kept (not ours)


def shim_text(name: str, python: str | None = None) -> str:
    """The shim of `name`; `python` (default: this interpreter) is the one it hands over to
    when the Python running it has no repobus."""
    return _TEMPLATE.format(
        marker=MARKER,
        name=name,
        what=TOOLS[name],
        version=__version__,
        python=sys.executable if python is None else python,
        missing=MISSING,
    )


def _put(root: Path, rel: str, text: str, mode: int) -> Written:
    path = root / rel
    try:
        old = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = None
    except (OSError, UnicodeDecodeError):
        return Written(rel, "kept")
    if old is not None and not any(MARKER in ln for ln in old.splitlines()[:3]):
        return Written(rel, "kept")
    if old == text:
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)
        return Written(rel, "unchanged")
    files.write_atomic(path, text, mode)
    return Written(rel, "written")


def write_shims(root: Path, python: str | None = None) -> list[Written]:
    """Write tools/__init__.py (unless the project has one), tools/agent/__init__.py and
    one shim per tool (handing over to `python`, default this interpreter)."""
    out = []
    pkg = root / "tools" / "__init__.py"
    if not pkg.exists():
        out.append(
            _put(
                root,
                "tools/__init__.py",
                _PACKAGE.format(marker=MARKER, version=__version__),
                0o644,
            )
        )
    out.append(
        _put(
            root,
            "tools/agent/__init__.py",
            _PACKAGE.format(marker=MARKER, version=__version__),
            0o644,
        )
    )
    for name in TOOLS:
        out.append(_put(root, f"tools/agent/{name}.py", shim_text(name, python), 0o755))
    return out
