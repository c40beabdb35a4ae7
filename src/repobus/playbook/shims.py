"""The playbook's `tools/agent/` package, as thin hand-overs to repobus.

`repobus init --shims` writes one file per original tool.  Each is a few lines: it finds the
repository root from its own location (as the originals did) and passes its argv, unchanged,
to `repobus.cli.compat`, which accepts the original flags (FORMATS §1-§19).  A shim runs as
`python -m tools.agent.X`, `python tools/agent/X.py` or `tools/agent/X.py` (executable, with
a `python3` shebang) wherever repobus is installed in the Python that runs it.

Invariants: a file is (re)written only when it is missing or carries the repobus marker, so
a team's own tool of the same name is never overwritten; writing twice changes nothing.
"""

from __future__ import annotations

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

The playbook's command line, handed over to repobus with its original flags.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None):
    try:
        from repobus.cli.compat import run
    except ImportError:
        sys.stderr.write("error: repobus is not installed in %s; pip install repobus\\n"
                         % sys.executable)
        return 5
    return run("{name}", sys.argv[1:] if argv is None else list(argv), ROOT)


if __name__ == "__main__":
    sys.exit(main())
'''

_PACKAGE = '''{marker} package (written by repobus {version})
"""The playbook's agent tools, handed over to repobus (see `repobus --help`)."""
'''


@dataclass(frozen=True)
class Written:
    path: str
    action: str  # written | unchanged | kept (not ours)


def shim_text(name: str) -> str:
    return _TEMPLATE.format(marker=MARKER, name=name, what=TOOLS[name], version=__version__)


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


def write_shims(root: Path) -> list[Written]:
    """Write tools/__init__.py (unless the project has one), tools/agent/__init__.py and
    one shim per tool."""
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
        out.append(_put(root, f"tools/agent/{name}.py", shim_text(name), 0o755))
    return out
