"""Reading the bus's refs: the tips under a prefix, and refs with their commits' records.

A few live refs are read from the ref files without starting git (git/refsdisk: certain, or
it says it is unsure and git answers); everything else is one `git for-each-ref`.  A read that
meets a commit git removed names its chain (store/housekeeping.readable).
"""

from __future__ import annotations

import builtins

from repobus.git import refsdisk
from repobus.records.layout import ROOT
from repobus.store import housekeeping
from repobus.store.base import BaseStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from repobus.git.config import Config
    from repobus.git.gitcmd import Repo


class GitRefs(BaseStore):
    repo: Repo
    cfg: Config

    def _read_refs(self, pattern: str) -> builtins.list[tuple[str, str, bytes]]:
        with housekeeping.readable(self):  # housekeeping: a pruned object names its chain
            res = self.repo.git(
                "for-each-ref", "--format=%(refname)%00%(objectname)%00%(contents)%00", pattern
            )
        out = []
        for chunk in res.stdout.split(b"\x00\n"):
            if not chunk.strip(b"\n"):
                continue
            name, oid, body = chunk.lstrip(b"\n").split(b"\x00", 2)
            out.append((name.decode(), oid.decode(), body))
        return out

    def all_heads(self) -> dict[str, str]:
        """Every bus ref and its tip, in one git call."""
        return self._tips_under(f"{ROOT}/")

    def _tips_under(self, *prefixes: str) -> dict[str, str]:
        few = refsdisk.tips_under(str(self.repo.common_dir), *prefixes)  # a few live refs
        if few is not None:
            return few
        res = self.repo.git("for-each-ref", "--format=%(refname) %(objectname)", *prefixes)
        out = {}
        for line in res.stdout.decode().splitlines():
            name, _, oid = line.partition(" ")
            out[name] = oid
        return out

    def read_refs(self, prefix: str) -> Iterator[tuple[str, str, bytes]]:
        """(ref, oid, record line) of every ref under `prefix`."""
        for name, oid, body in self._read_refs(prefix):
            yield name, oid, body.split(b"\n", 1)[0]
