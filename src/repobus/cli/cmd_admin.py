"""check, verify, export, schema, import."""

from __future__ import annotations

from pathlib import Path

from repobus.cli.runner import Ctx

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def check(ctx: Ctx) -> int:
    from repobus.checks import check as chk
    from repobus.errors import CorruptError, NotFoundError
    from repobus.store.dirstore import DirStore
    from repobus.views import overview as views

    bus = ctx.bus()
    errors: list[str] = []
    if ctx.values.get("dir"):
        base = Path(ctx.dir).resolve()
        if not base.is_dir():
            raise NotFoundError(f"no such _bus directory: {ctx.dir}")
        files = chk.read_tree(base)
        store = DirStore(bus.repo, bus.cfg, base)
    else:
        store = bus.store
        try:
            root = store.files_root
            files = chk.read_tree(root) if root is not None else views.tree(bus)
        except CorruptError as exc:
            files, errors = {}, [exc.message]
    found, counts = chk.check_files(files)
    errors += found
    if not ctx.values.get("dir"):  # lines appended by hand to the _bus/ mirror, not taken in
        from repobus.playbook.intake import problems as waiting

        errors += waiting(bus, ctx.env.get("REPOBUS_AGENT"))
    try:
        view = ctx.values.get("dir") and not chk.is_store_folder(base)
        problems = chk.view_problems(base) if view else store.verify()
        errors += [f"{p.chain}: {p.where}: {p.what}" for p in problems]
    except CorruptError as exc:
        errors.append(exc.message)
    if ctx.values.get("dir"):
        errors = [chk.under(e, str(ctx.dir)) for e in errors]
    gha = ctx.env.get("GITHUB_ACTIONS") == "true"
    if ctx.json:
        ctx.emit({"ok": not errors, "errors": errors, "checked": counts})
    elif errors:
        ctx.out.write("".join(f"{'::error::' if gha else 'error: '}{e}\n" for e in errors))
    else:
        summary = ", ".join(f"{n} {k}" for k, n in counts.items())
        ctx.out.write(
            ("::notice::agent bus artifacts validated" if gha else "agent bus artifacts validated")
            + f" ({summary}; hash chains intact)\n"
        )
    return 1 if errors else 0


def verify(ctx: Ctx) -> int:
    from repobus.errors import CorruptError

    bus = ctx.bus()
    try:
        problems = [
            {"chain": p.chain, "record": p.where, "problem": p.what} for p in bus.store.verify()
        ]
    except CorruptError as exc:
        problems = [{"chain": "?", "record": "?", "problem": exc.message}]
    text = (
        "\n".join(f"{p['chain']}: {p['record']}: {p['problem']}" for p in problems)
        if problems
        else "verify: every hash chain is intact"
    )
    if problems and not ctx.json:
        ctx.err.write(text + "\n")
        ctx.err.write(
            "hint: restore the bus from a clone that has the original history, "
            "before merging further work\n"
        )
    else:
        ctx.emit({"ok": not problems, "problems": problems}, text)
    return 1 if problems else 0


def export(ctx: Ctx) -> int:
    from repobus.views import overview as views

    bus = ctx.bus()
    dest = Path(ctx.to).resolve() if ctx.values.get("to") else bus.repo.root / "_bus"
    if dest.exists() and not dest.is_dir():
        from repobus.errors import UsageError

        raise UsageError(f"--to must be a directory: {ctx.to} is a file")
    root = bus.store.files_root
    if root is not None and dest == root.resolve():
        ctx.emit({"to": str(dest), "written": 0}, f"the dir backend already lives in {dest}")
        return 0
    counts = views.export(bus, dest)
    ctx.emit(
        {"to": str(dest), **counts},
        f"Exported the bus to {dest}: {counts['written']} written, "
        f"{counts['unchanged']} unchanged, {counts['removed']} removed",
    )
    return 0


def schema(ctx: Ctx) -> int:
    from repobus.errors import UsageError
    from repobus.records import types

    name = ctx.values.get("name")
    if name is not None and name not in types.RECORDS:
        raise UsageError(f"no format named {name!r}; choose one of {', '.join(types.RECORDS)}")
    data = types.schema(name) if name else {n: types.schema(n) for n in types.RECORDS}
    import json

    ctx.out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return 0


def import_bus(ctx: Ctx) -> int:
    """`repobus import`: a tracked `_bus/` (the original tools', or the dir backend's) into
    the git backend's chains (store/legacy.py)."""
    from repobus.errors import NotFoundError

    bus = ctx.bus()
    base = (bus.repo.root / str(ctx.values.get("from") or "_bus")).resolve()
    if not base.is_dir():
        raise NotFoundError(f"no such _bus directory: {ctx.values.get('from') or '_bus'}")
    from repobus.store import legacy

    if base == (bus.repo.root / "_bus").resolve() and not legacy.tracked(bus.repo):
        from repobus.errors import UsageError

        raise UsageError(
            "_bus/ is not tracked by git: beside the git backend it is the bus's own mirror",
            hint="commit the _bus/ to import (git add _bus), or name a copy: --from DIR",
        )
    data, text = carry_in(ctx, bus, base, bool(ctx.values.get("dry_run")))
    ctx.emit(data, text)
    return 1 if data["skipped"] else 0


def carry_in(ctx: Ctx, bus: Any, base: Path, dry_run: bool = False) -> tuple[dict[str, Any], str]:
    """Import `base` into the bus's git store, with a progress line on stderr: the counts
    (as JSON shows them) and the summary, what `import`, `init` (adopting a tracked
    `_bus/`) and `init --migrate` print."""
    from repobus.playbook import session
    from repobus.store import legacy

    agent = ctx.values.get("agent") or session.manifest_agent(bus.repo.root) or "repobus"
    shown = _shown(bus.repo.root, base)

    def progress(done: int, total: int) -> None:
        if done and not dry_run:
            ctx.err.write(f"importing {done:,} of {total:,} records from {shown}/ ...\n")
            ctx.err.flush()

    res = legacy.run(bus.store, base, str(agent), dry_run=dry_run, progress=progress)
    verb = "would import" if dry_run else "imported"
    text = res.summary().replace("imported", verb, 1) + f" from {shown}/"
    if res.anchored:
        text += f"; {res.anchored} file(s) anchored (verify names a later edit of their lines)"
    text += "".join(f"\nskipped {s}" for s in res.skipped)
    data = {
        "from": shown,
        "dry_run": dry_run,
        "imported": res.imported,
        "present": res.present,
        "anchored": res.anchored,
        "skipped": res.skipped,
    }
    return data, text


def _shown(root: Path, base: Path) -> str:
    try:
        return str(base.relative_to(root.resolve()))
    except ValueError:
        return str(base)
