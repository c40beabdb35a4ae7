"""What a model reads when a tool call is refused: the error in tool names and arguments.

The bus words its errors for the CLI (`repobus claim --task X`, `python -m tools.agent.bus_claim
claim --task X`, `--fence`), because the CLI is its first door.  A model behind MCP has tools,
not those command lines, so every error text of `repobus mcp` passes through `for_model`.

Invariants:
- a command line of a command that has a tool becomes that tool with its arguments
  (`claim` with task=X); an option left alone becomes the argument's name (`fence`);
- the session boot, which no tool does, is named as the shell command `repobus boot`;
- the kind comes first (`stale_token: ...`), as the CLI's `--json` reports it.
"""

from __future__ import annotations

import re

from repobus.errors import BusError

# CLI command (the original tools' and repobus's) -> the tool that does it
TOOL_OF = {
    "bus_claim claim": "claim",
    "bus_claim renew": "renew",
    "bus_claim release": "release",
    "bus_claim pause": "pause",
    "bus_event log": "log_event",
    "task_assign": "assign",
    "claim": "claim",
    "renew": "renew",
    "release": "release",
    "pause": "pause",
    "log": "log_event",
    "send": "send_message",
    "inbox": "inbox",
    "status": "status",
    "assign": "assign",
    "report": "report",
}
_OPT = r"--[a-z][\w-]*(?: (?!--)[^\s`;,)'\"]+)?"
_CMD = re.compile(
    r"`?(?:(?:python -m )?tools\.agent\.(?P<tool>bus_claim \w+|bus_event log|task_assign)"
    r"|repobus (?P<cmd>claim|renew|release|pause|log|send|inbox|status|assign|report)\b)"
    rf"(?P<opts>(?: {_OPT})*)(?: \.\.\.)?`?"
)
_BOOT = re.compile(
    r"`?python -m tools\.agent\.session_boot((?: {_OPT})*)`?".replace("{_OPT}", _OPT)
)
# a shell command without a tool is kept whole; any other option becomes the argument's name
_LONE = re.compile(
    r"(?P<keep>repobus (?:boot|verify|doctor|sync|init|manifest|receipt|hook|mcp)\b[^;)`]*)"
    r"|--(?P<opt>[a-z][\w-]*)"
)


def _arg(opt: str) -> str:
    return opt.lstrip("-").replace("-", "_")


def _call(m: re.Match[str]) -> str:
    tool = TOOL_OF[m.group("tool") or m.group("cmd")]
    args = []
    for opt in re.findall(_OPT, m.group("opts") or ""):
        name, _, value = opt.partition(" ")
        args.append(f"{_arg(name)}={value}" if value else f"{_arg(name)}=true")
    return f"the {tool} tool" + (f" ({', '.join(args)})" if args else "")


def _boot(m: re.Match[str]) -> str:
    agent = re.search(r"--agent (\S+)", m.group(1) or "")
    return "`repobus boot" + (f" --agent {agent.group(1)}" if agent else "") + "` in a shell"


def _lone(m: re.Match[str]) -> str:
    return m.group("keep") or f"`{_arg(m.group('opt'))}`"


def for_model(text: str) -> str:
    """A CLI-worded text in tool names and arguments."""
    return _LONE.sub(_lone, _CMD.sub(_call, _BOOT.sub(_boot, text)))


def error_text(exc: BusError) -> str:
    """`kind: message (hint: ...)`, in tool words."""
    hint = f" (hint: {for_model(exc.hint)})" if exc.hint else ""
    return f"{exc.kind}: {for_model(exc.message)}{hint}"
