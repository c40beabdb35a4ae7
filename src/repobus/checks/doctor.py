"""`repobus doctor`: what is set up, what is wrong, and what it fixed.

Checks: the git version; the repobus config (values that do not parse fall back to defaults
silently everywhere else, so they are named here); `.repobus.toml` (readable, agreeing with
this clone's set-up, committed); refspecs (layout 1's bus refspec on the remote, and any
forced refspec, mirror or push setting that would let a plain `git fetch`/`git push` overwrite
bus refs); the pre-push hook; leftover lock files - under `refs/repobus/`, the tracking and
quarantine namespaces and `packed-refs.lock` - fetch quarantines and temporary object files
left by killed writers (doctor_files.py); bus objects present (a
`git gc --prune=now` beside a writer can delete a commit a chain names) and loose objects
against the packing threshold (doctor_objects.py); the derived index's freshness; clock skew
against the remote's newest commit; records the remote does not have yet.

Each finding is `{"check", "level", "detail"}` with level ok, warning or problem.  With
fix=True it does only what is safe and says what it did: remove lock and temporary files
older than `repobus.lockStale` (git holds a ref lock for milliseconds), delete the fetch
quarantines of processes that are gone, remove layout 1's bus refspec, make the repobus
pre-push hook executable, fetch a chain whose commit is missing again from the remote (and,
when the remote never had it, move the chain back to its newest readable record), pack loose
objects, catch the index up or rebuild it (it is a cache).  Nothing else is
changed: a finding it cannot fix safely names the command that would.
"""

from __future__ import annotations

import os
import re
import shlex
import sqlite3
from pathlib import Path
from typing import Any

from repobus.bus import Bus
from repobus.checks.doctor_files import locks, quarantines, temp_objects
from repobus.checks.doctor_objects import bus_objects, loose_objects
from repobus.checks.findings import finding as _finding
from repobus.git import gitcmd

SKEW_WARN = 30
MIN_GIT = (2, 30)
MIN_LOCK_STALE = 5
_DURATIONS = ("ttl", "leasegrace", "lockstale", "remotetimeout", "sessionmaxage", "staleafter")
_ZERO_OK = ("leasegrace", "lockstale")


def diagnose(bus: Bus, fix: bool = False) -> list[dict[str, str]]:
    out = [_git_version(bus)]
    out += _config(bus)
    out += _project(bus)
    out += _refspecs(bus, fix)
    out.append(_hooks(bus, fix))
    out += locks(bus, fix)
    if bus.cfg.remote:
        out.append(quarantines(bus, fix))
    out.append(temp_objects(bus, fix))
    present = bus_objects(bus, fix)  # housekeeping: before the index, which reads the chains
    out += [present, loose_objects(bus, fix)]
    out.append(_index(bus, fix and present["level"] == "ok"))
    if bus.cfg.remote:
        out.append(_skew(bus))
        out.append(_unpushed(bus))
    return out


def _unpushed(bus: Bus) -> dict[str, str]:
    """Records this clone holds that the remote does not (refused, or not reached yet)."""
    store = bus.store
    if store.remote_name is None:
        return _finding("unpushed", "ok", "no remote store")
    counts = store.unpushed()
    if not counts:
        return _finding("unpushed", "ok", "every record of this clone is on the remote")
    what = ", ".join(f"{chain}: {n}" for chain, n in sorted(counts.items()))
    return _finding(
        "unpushed",
        "warning",
        f"{sum(counts.values())} record(s) not on remote '{store.remote_name}' yet ({what}); "
        "run `repobus sync` (it says why, if the remote refuses them)",
    )


# -- git and config ------------------------------------------------------------------------
def _git_version(bus: Bus) -> dict[str, str]:
    text = gitcmd.out(bus.repo.root, "--version")
    m = re.search(r"(\d+)\.(\d+)", text)
    have = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    ok = have >= MIN_GIT
    need = ".".join(map(str, MIN_GIT))
    return _finding("git", "ok" if ok else "problem", text + ("" if ok else f" (need >= {need})"))


def _config(bus: Bus) -> list[dict[str, str]]:
    from repobus.errors import UsageError
    from repobus.records.times import parse_duration

    cfg = bus.cfg
    if not cfg.initialized:
        return [_finding("config", "warning", "repobus init has not been run here")]
    out = []
    for key in _DURATIONS:
        value = cfg.raw.get(key)
        if value is None or (key in _ZERO_OK and value.strip().lower() in ("0", "0s")):
            continue
        try:
            parse_duration(value, f"repobus.{key}")
        except UsageError:
            out.append(
                _finding(
                    "config",
                    "problem",
                    f"repobus.{key}={value!r} is not a duration "
                    "(like 90s, 15m, 2h): the default is used instead; fix it with "
                    f"`git config repobus.{key} VALUE`",
                )
            )
    if cfg.backend not in ("git", "dir"):
        out.append(
            _finding("config", "problem", f"repobus.backend={cfg.backend!r}: expected git or dir")
        )
    if cfg.lock_stale < MIN_LOCK_STALE:
        out.append(
            _finding(
                "config",
                "warning",
                f"repobus.lockStale={cfg.lock_stale}s: a lock "
                "that young may belong to a live writer, and removing it breaks the "
                f"compare-and-swap; use at least {MIN_LOCK_STALE}s",
            )
        )
    if (
        cfg.remote
        and gitcmd.run(bus.repo.root, "remote", "get-url", cfg.remote, check=False).returncode != 0
    ):
        out.append(
            _finding(
                "config",
                "problem",
                f"repobus.remote={cfg.remote!r} names no git "
                "remote; add it (git remote add) or run `repobus init --no-remote`",
            )
        )
    if not out:
        out.append(
            _finding(
                "config",
                "ok",
                f"backend={cfg.backend}, ttl={cfg.ttl}s, "
                f"grace={cfg.grace}s, lockStale={cfg.lock_stale}s",
            )
        )
    return out


def _project(bus: Bus) -> list[dict[str, str]]:
    """`.repobus.toml`: readable, agreeing with this clone's set-up, committed."""
    from repobus.store import project

    return [_finding("project", lvl, text) for lvl, text in project.diagnose(bus.repo, bus.cfg)]


# -- refspecs --------------------------------------------------------------------------------
def _remote_settings(bus: Bus) -> list[tuple[str, str, str]]:
    """(remote, key, value) for every remote.*.fetch / push / mirror setting."""
    res = gitcmd.run(
        bus.repo.root, "config", "--get-regexp", r"^remote\..*\.(fetch|push|mirror)$", check=False
    )
    out = []
    for line in res.stdout.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        name, _, leaf = key[len("remote.") :].rpartition(".")
        out.append((name, leaf, value.strip()))
    return out


def _overwrites_bus(spec: str, remotes: set[str]) -> bool:
    """Whether a refspec's destination covers a bus namespace: refs/repobus/ or a bus
    remote-tracking namespace refs/remotes/<remote>-repobus/."""
    src, _, dst = spec.lstrip("+").partition(":")
    prefix = (dst or src).split("*", 1)[0]
    spaces = [
        "refs/repobus/",
        "refs/repobus-remote/",
        *(f"refs/remotes/{r}-repobus/" for r in remotes),
    ]
    return bool(prefix) and any(ns.startswith(prefix) or prefix.startswith(ns) for ns in spaces)


def _refspecs(bus: Bus, fix: bool) -> list[dict[str, str]]:
    out = []
    settings = _remote_settings(bus)
    remotes = {name for name, _, _ in settings}
    for name, leaf, value in settings:
        if leaf == "mirror" and value.lower() in ("true", "yes", "1", "on"):
            out.append(
                _finding(
                    "refspec",
                    "problem",
                    f"remote.{name}.mirror=true: a plain "
                    "`git push` force-pushes every ref, the bus refs included",
                )
            )
        elif (
            leaf in ("fetch", "push") and value.startswith("+") and _overwrites_bus(value, remotes)
        ):
            what = "`git fetch` overwrites" if leaf == "fetch" else "`git push` force-pushes"
            out.append(
                _finding(
                    "refspec",
                    "problem",
                    f"remote.{name}.{leaf}={value}: a plain "
                    f"{what} bus refs without a check (remove the '+' or narrow it)",
                )
            )
    if bus.cfg.remote:
        out.append(
            _bus_refspec(
                bus, fix, [v for n, k, v in settings if n == bus.cfg.remote and k == "fetch"]
            )
        )
    if not out:
        out.append(_finding("refspec", "ok", "no refspec can overwrite bus refs"))
    return out


def _bus_refspec(bus: Bus, fix: bool, have: list[str]) -> dict[str, str]:
    """The clone's tracking layout: layout 1's fetch refspec (which made a plain `git fetch`
    print every bus ref and `git push` move tracking refs) is gone."""
    from repobus.store import tracking as rmt

    name = bus.cfg.remote or ""
    spec = rmt.legacy_refspec(name)
    if spec not in have:
        return _finding("refspec", "ok", f"no bus refspec on remote.{name} (repobus fetches it)")
    if fix and gitcmd.run(bus.repo.root, "remote", "get-url", name, check=False).returncode == 0:
        rmt.configure(bus.repo, name)
        return _finding("refspec", "ok", f"fixed: removed {spec} from remote.{name}.fetch")
    return _finding(
        "refspec",
        "warning",
        f"remote.{name}.fetch has {spec} (layout 1): a plain `git fetch` prints every bus ref; "
        "run `repobus doctor --fix`",
    )


# -- hooks -------------------------------------------------------------------------------------
def _hooks(bus: Bus, fix: bool) -> dict[str, str]:
    from repobus.playbook import hooks

    path = hooks.hook_path(bus.repo)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return _finding(
            "hooks",
            "ok",
            "no pre-push hook (optional: `repobus init --hooks` keeps pushes under agent/<id>/)",
        )
    except OSError as exc:
        return _finding("hooks", "problem", f"cannot read {path}: {exc.strerror}")
    if hooks.MARKER not in text:
        return _finding(
            "hooks",
            "ok",
            f"{path} is not repobus's; repobus's pre-push hook is "
            "not installed (call `repobus hook pre-push` from yours to add it)",
        )
    if not os.access(path, os.X_OK):
        if not fix:
            return _finding(
                "hooks",
                "problem",
                f"{path} is not executable, so git skips it; run `repobus doctor --fix`",
            )
        path.chmod(path.stat().st_mode | 0o111)
        return _finding("hooks", "ok", f"fixed: made {path} executable")
    return _hook_python(path, text)


def _hook_python(path: Path, text: str) -> dict[str, str]:
    import shutil

    line = next((ln for ln in text.splitlines() if ln.startswith("PY=")), "PY=")
    words = shlex.split(line[3:]) or [""]
    python = words[0]
    if python and os.access(python, os.X_OK):
        return _finding("hooks", "ok", f"pre-push hook installed ({path}), runs {python}")
    if shutil.which("repobus"):
        return _finding(
            "hooks",
            "warning",
            f"the pre-push hook's python {python!r} is gone; it "
            "falls back to `repobus` on PATH (rerun `repobus init --hooks`)",
        )
    return _finding(
        "hooks",
        "problem",
        f"the pre-push hook's python {python!r} is gone and "
        "`repobus` is not on PATH: every push is refused; rerun `repobus init "
        "--hooks` with the repobus you use",
    )


# -- the derived index ---------------------------------------------------------------------------
def _index(bus: Bus, fix: bool) -> dict[str, str]:
    store: Any = bus.store
    if not store.use_index:
        return _finding("index", "ok", "no derived index for this backend")
    from repobus.store.index import SCHEMA

    path = store.repo.common_dir / "repobus" / "index.sqlite3"
    if not path.exists():
        return _finding("index", "ok", "no index yet: the next read builds it")
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            schema = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            held = dict(db.execute("SELECT ref, oid FROM heads").fetchall())
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return _rebuild(store, fix, f"the index {path.name} is unreadable ({exc})")
    if schema is None or schema[0] != str(SCHEMA):
        return _rebuild(
            store, fix, f"the index has schema {schema and schema[0]}, expected {SCHEMA}"
        )
    heads = store.all_heads()
    behind = sum(1 for r, o in heads.items() if held.get(r) != o) + sum(
        1 for r in held if r not in heads
    )
    if not behind:
        return _finding("index", "ok", f"the index is up to date ({len(heads)} refs)")
    if fix:
        store.index.catch_up()
        return _finding("index", "ok", f"fixed: caught the index up with {behind} ref(s)")
    return _finding(
        "index",
        "ok",
        f"the index is {behind} ref(s) behind, as usual after "
        "writes: the next read catches it up (`repobus doctor --fix` does it now)",
    )


def _rebuild(store: Any, fix: bool, why: str) -> dict[str, str]:
    if not fix:
        return _finding(
            "index",
            "problem",
            f"{why}; run `repobus doctor --fix` (or `repobus reindex`) to rebuild it from the refs",
        )
    store.index.drop()
    added = store.index.catch_up()
    return _finding("index", "ok", f"fixed: {why}; rebuilt it from the refs ({added} records)")


# -- clock ---------------------------------------------------------------------------------------
def _skew(bus: Bus) -> dict[str, str]:
    from repobus.errors import BusError
    from repobus.store.remotesync import verify_remote_clock

    store: Any = bus.store
    if store.remote_name is None:
        return _finding("clock", "ok", "no remote to compare clocks with")
    try:
        store.remote.fetch()
    except BusError as exc:  # unreachable: say so, the other checks still count
        return _finding(
            "clock", "warning", f"cannot reach the remote to compare clocks: {exc.message}"
        )
    ahead = verify_remote_clock(store)
    if ahead is None:
        return _finding("clock", "ok", "no remote records yet to compare with")
    level = "warning" if ahead > SKEW_WARN else "ok"
    return _finding(
        "clock",
        level,
        f"the newest remote record is {ahead}s ahead of this "
        f"clock"
        + (f" (leases are judged with a {bus.cfg.grace}s grace)" if level == "warning" else ""),
    )
