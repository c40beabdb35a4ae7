"""Commands of the doors for people and agents: the web dashboard and the MCP server."""

from __future__ import annotations

from repobus.cli.spec import Command, Opt

COMMANDS = [
    Command(
        "serve",
        "Serve the live web dashboard (extra: repobus[web]).",
        "repobus.cli.cmd_doors:serve",
        opts=(
            Opt(
                "--host",
                default="127.0.0.1",
                metavar="HOST",
                help="Address to bind (default 127.0.0.1: this machine only); an address "
                "other machines can reach needs --allow-remote.",
            ),
            Opt(
                "--port",
                "int",
                default=8765,
                metavar="N",
                help="Port to bind (default 8765; 0 picks a free one).",
            ),
            Opt(
                "--allow-writes",
                "flag",
                help="Let a person pause, release and post from the page, with the token "
                "printed at start.",
            ),
            Opt(
                "--allow-remote",
                "flag",
                help="Allow a --host other machines can reach (0.0.0.0, a LAN address); every "
                "page then needs the token printed at start.",
            ),
            Opt(
                "--allow-host",
                "multi",
                metavar="NAME",
                help="Also answer to this Host name (a proxy's or LAN name; NAME or "
                "NAME:PORT); repeatable.",
            ),
        ),
        doc="Serve a dashboard of the bus that updates itself live (server-sent events): "
        "agents and when they were last seen, claims with lease time left, stale and "
        "expired claims flagged, a page per task, the event stream with filters, and the "
        "latest manager report. Read-only unless --allow-writes; writes act as --agent "
        "(else $REPOBUS_AGENT, else the manifest, else 'human'); pause and release ask for "
        "confirmation. Answers only to its own Host names (plus --allow-host); binding an "
        "address other machines can reach needs --allow-remote, and then the token to read. "
        "Needs the web extra: "
        "pip install '/path/to/repobus[web]' from a clone, or "
        "'repobus[web] @ git+https://<repobus-url>'.",
        examples=(
            "repobus serve",
            "repobus serve --port 9000 --allow-writes --agent alice",
            "repobus serve --host 0.0.0.0 --allow-remote --allow-host dash.lan",
        ),
        reads=True,
    ),
    Command(
        "mcp",
        "Run the MCP server on stdio (extra: repobus[mcp]).",
        "repobus.cli.cmd_doors:mcp",
        opts=(
            Opt(
                "--allow-act-as",
                "flag",
                help="Let a tool's `agent` argument act for another agent (each act recorded).",
            ),
        ),
        doc="Serve the bus to an MCP client over stdin/stdout: tools to claim, renew, pause and "
        "release tasks, log events, send and read messages, assign, and read status and a "
        "compact report; resources for active claims and recent events. The server is one "
        "agent, fixed at start: --agent, else $REPOBUS_AGENT, else the manifest; a tool's "
        "`agent` naming another is refused unless --allow-act-as (or a manager's manifest), "
        "and recorded. Serves --repo, else $REPOBUS_REPO, else the working directory; "
        "started outside a repository it still answers, with not_set_up. "
        "Needs the mcp extra: pip install '/path/to/repobus[mcp]' from a clone, or "
        "'repobus[mcp] @ git+https://<repobus-url>'.",
        examples=("repobus mcp", "repobus mcp --repo ~/src/app --allow-act-as"),
        reads=True,
    ),
]
