"""The web dashboard (`repobus serve`, extra `web`): a thin adapter over `bus` and `views`.

Invariants:
- nothing here is imported by `import repobus` or by any other command: only `repobus serve`
  loads it, and only `app.py` imports Starlette and uvicorn;
- reading never writes; writing (pause, release, message) is off unless the server was started
  with `--allow-writes`, and then each write must present the token printed at start;
- every page is self-contained: inline CSS and JS, nothing fetched from the internet.
"""
