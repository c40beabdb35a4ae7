"""The bus: every write - claims, events, messages, assignments - as one use-case layer over a
store (core.py: leases and events; messaging.py: messages and assignments)."""

from repobus.bus.core import Bus, build_event, open_bus, parse_pairs, with_config

__all__ = ["Bus", "build_event", "open_bus", "parse_pairs", "with_config"]
