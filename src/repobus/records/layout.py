"""Where the bus lives: the ref namespace of the git backend and its kinds of state.

One definition, read by every layer (the store, the fingerprints, the lean read path).
"""

from __future__ import annotations

ROOT = "refs/repobus"
SLOT_KINDS = ("claims", "assignments")  # one current record per key, with its history
LOG_KINDS = ("events", "messages")  # append-only chains, one per writer
