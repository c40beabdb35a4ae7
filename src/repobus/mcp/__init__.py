"""The MCP server (`repobus mcp`, extra `mcp`): the bus as tools and resources for agents.

Invariants:
- only `repobus mcp` imports this package; `import repobus` never loads the MCP SDK;
- each tool is one call into `bus`/`views` (reads) or `playbook.doors` (writes: the session guard,
  the write, the mirror refresh, as for the CLI); a `BusError` comes back as a tool error whose
  text starts with its kind (`conflict:`, `stale_token:`, `not_found:`, `usage:` ...);
- the SDK is imported by absolute name (`mcp.server...`), which is the top-level SDK package,
  never this subpackage.
"""
