"""reindex."""

from __future__ import annotations

import time

from repobus.cli.runner import Ctx
from repobus.errors import SetupError


def reindex(ctx: Ctx) -> int:
    bus = ctx.bus()
    index = bus.store.index
    if index is None:
        raise SetupError("the dir backend keeps no index: its files are read directly")
    tty = ctx.err.isatty() and not ctx.json
    start = time.monotonic()

    def progress(n: int) -> None:
        if tty:
            ctx.err.write(f"\rindexed {n:,} records ({time.monotonic() - start:.1f}s)")
            ctx.err.flush()

    index.drop()
    added = index.catch_up(progress=progress)
    if tty:
        ctx.err.write("\n")
    claims = len(index.slots("claims"))
    took = time.monotonic() - start
    ctx.emit(
        {"records": added, "claims": claims, "seconds": round(took, 3), "path": str(index.path)},
        f"Rebuilt the index: {added:,} records, {claims:,} claims in {took:.1f}s ({index.path})",
    )
    return 0
