"""Where a clone keeps the last fetched state of the remote's bus, and how a clone is pointed at
its remote (layout 2: `refs/repobus-remote/<remote>/*`, no refspec on the remote; layout 1
clones move by themselves).  A fetch's private quarantine lives under `refs/repobus-incoming/`.
"""

from __future__ import annotations

from repobus.git import gitcmd
from repobus.git.gitcmd import Repo
from repobus.records.layout import ROOT

TRACK_ROOT = "refs/repobus-remote"
INCOMING_ROOT = "refs/repobus-incoming"
LAYOUT = "2"  # repobus.trackingLayout: 2 = tracking refs under refs/repobus-remote/<remote>/


def configure(repo: Repo, name: str) -> list[str]:
    """Point the bus at remote `name`, and bring the clone to the current tracking layout.

    No refspec is added to the remote, neither fetch nor push: a fetch refspec would make a
    plain `git fetch` print every bus ref and a plain `git push` move tracking refs behind our
    back; a push refspec would change what `git push` does for the user's branches.  repobus
    fetches and pushes the bus itself, always with a lease."""
    res = gitcmd.run(repo.root, "remote", "get-url", name, check=False)
    if res.returncode != 0:
        from repobus.errors import NotFoundError

        raise NotFoundError(
            f"no git remote named {name!r}", hint="add it first: git remote add NAME URL"
        )
    done = migrate(repo, name)
    cur = gitcmd.run(repo.root, "config", "--get", "repobus.remote", check=False)
    if cur.stdout.decode().strip() != name:
        gitcmd.run(repo.root, "config", "repobus.remote", name)
        done.append(f"set repobus.remote={name}")
    return done


def legacy_refspec(name: str) -> str:
    return f"{ROOT}/*:refs/remotes/{name}-repobus/*"


def migrate(repo: Repo, name: str) -> list[str]:
    """From layout 1 (tracking refs under refs/remotes/<name>-repobus/, a fetch refspec on the
    remote) to layout 2: the refs move (same objects, one transaction), the refspec goes.
    Idempotent; records `repobus.trackingLayout`."""
    done: list[str] = []
    spec = legacy_refspec(name)
    have = (
        gitcmd.run(repo.root, "config", "--get-all", f"remote.{name}.fetch", check=False)
        .stdout.decode()
        .split()
    )
    if spec in have:
        gitcmd.run(
            repo.root, "config", "--unset-all", "--fixed-value", f"remote.{name}.fetch", spec
        )
        done.append(f"removed fetch refspec {spec} from remote {name}")
    old_prefix = f"refs/remotes/{name}-repobus/"
    res = gitcmd.run(repo.root, "for-each-ref", "--format=%(refname) %(objectname)", old_prefix)
    script = []
    for line in res.stdout.decode().splitlines():
        ref, _, oid = line.partition(" ")
        script.append(f"create {TRACK_ROOT}/{name}/{ref[len(old_prefix) :]} {oid}\n")
        script.append(f"delete {ref} {oid}\n")
    if script:
        gitcmd.run(repo.root, "update-ref", "--stdin", stdin="".join(script).encode())
        done.append(f"moved {len(script) // 2} tracking ref(s) to {TRACK_ROOT}/{name}/")
    decorations = gitcmd.run(
        repo.root, "config", "--get-all", "log.excludeDecoration", check=False
    ).stdout.decode()
    if "refs/repobus*" not in decorations.split():
        # `git log --decorate` (and --all with a decoration) names no bus ref
        gitcmd.run(repo.root, "config", "--add", "log.excludeDecoration", "refs/repobus*")
        done.append("set log.excludeDecoration=refs/repobus*")
    cur = gitcmd.run(repo.root, "config", "--get", "repobus.trackingLayout", check=False)
    if cur.stdout.decode().strip() != LAYOUT:
        gitcmd.run(repo.root, "config", "repobus.trackingLayout", LAYOUT)
    return done


def default_remote(repo: Repo) -> str | None:
    names = gitcmd.run(repo.root, "remote", check=False).stdout.decode().split()
    return "origin" if "origin" in names else None
