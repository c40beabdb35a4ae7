"""Agent instructions: the section of `AGENTS.md` (Codex) and/or `CLAUDE.md` (Claude Code) that
tells an agent how to work on this bus - the playbook's session loop, in repobus commands and
MCP tools (`repobus init --agents-md codex|claude|both`).

Invariants:
- the section lies between `<!-- repobus:start -->` and `<!-- repobus:end -->`; only that text
  is ever replaced: every byte outside the markers is kept as it was;
- a file without the markers gets the section appended (a file that does not exist is
  created); writing twice changes nothing the second time (idempotent);
- the section is under 60 lines.
"""

from __future__ import annotations

from repobus.errors import CorruptError, UsageError
from repobus.store.files import write_atomic

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

START = "<!-- repobus:start -->"
END = "<!-- repobus:end -->"
FILES = {"codex": ("AGENTS.md",), "claude": ("CLAUDE.md",), "both": ("AGENTS.md", "CLAUDE.md")}
CHOICES = tuple(FILES)

BODY = """\
## Working on the repobus coordination bus

Several agents work in this repository at once. Coordinate every task through repobus
(CLI `repobus ...`, or the MCP tools of `repobus mcp` named in brackets). Branch on exit
codes: 0 ok, 3 conflict (held by another agent, stale fence: do not retry blindly),
4 not found, 5 not set up. Add `--json` to read results.

Session loop:
1. Start: `repobus boot` - syncs, logs your handshake, shows peers and their claims.
2. Read: `repobus inbox` [inbox], `repobus status` [status], `repobus queue`,
   `repobus report` [report] for the manager's view.
3. Claim one task: `repobus claim --task T --plan P` [claim]. Keep the `fencing_token`
   it prints. Exit 3 = someone else holds it: pick another task.
4. Plan: `repobus plan new --task T ...`; work on your branch `agent/<you>/<slug>`.
5. While working, pass your fence on every write:
   `repobus renew --task T --fence N` [renew] before the lease ends;
   `repobus log --event progress --task T --summary S --fence N` [log_event];
   `repobus send --task T --type status --summary S --fence N` [send_message].
   A `stale fencing token` refusal means your claim was taken over: stop writing
   on that task, read `repobus status`, and ask before doing more.
6. Propose and open a draft PR: `repobus log --event proposal --task T --receipt R
   --fence N`, then `repobus pr --task T`.
7. Finish: `repobus release --task T --status done --fence N` [release];
   end the session with `repobus boot --wrap`.

Someone else's claim:
- Never work on a task another agent holds. Ask it first:
  `repobus send --task T --to AGENT --type comment --summary ...` [send_message].
- `repobus pause --task T --notes "state of the work"` [pause] on another agent's claim is
  accepted only when its lease expired or its holder was silent for repobus.pauseSilence
  (default 15 min); the refusal says when it becomes possible. Then claim it
  (the fencing token goes up; the old holder is locked out).
- `--force --reason TEXT` overrules a live holder: it is recorded and the holder is told.
  Use it only when a person asked you to.

Never edit `_bus/` by hand (it is a read-only mirror), and never act as another agent.
"""


def section() -> str:
    """The marked section, as written into each file."""
    return f"{START}\n{BODY}{END}\n"


def updated(text: str) -> str:
    """`text` with its repobus section replaced (between the markers) or appended."""
    start, end = text.find(START), text.find(END)
    if start == -1 and end == -1:
        sep = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return text + sep + section()
    if start == -1 or end < start:
        raise CorruptError(
            f"the repobus markers are out of order ({START} must come before {END})",
            hint="fix or remove the markers by hand, then run this again",
        )
    tail = text[end + len(END) :]
    return text[:start] + section().rstrip("\n") + tail


def write(root: Path, which: str) -> list[str]:
    """Write the section into the files `which` names; what changed, as lines for the user."""
    if which not in FILES:
        raise UsageError(f"--agents-md must be one of {', '.join(CHOICES)}, got {which!r}")
    done = []
    for name in FILES[which]:
        path = root / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        new = updated(old)
        if new != old:
            write_atomic(path, new)
            done.append(f"{'updated' if old else 'wrote'} the repobus section of {name}")
    return done
