"""The bus: every write - claims, events, messages, assignments - as one use-case layer over a
store (core.py: claims and leases; events.py: events and the claim guard; messaging.py:
messages and assignments)."""

from repobus.bus.core import Bus, open_bus, with_config
from repobus.bus.events import build_event, parse_pairs

__all__ = ["Bus", "build_event", "open_bus", "parse_pairs", "with_config"]
