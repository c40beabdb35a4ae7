"""repobus: the coordination bus that lives in your git repository.

Importing this package is cheap: it loads neither the CLI framework nor any backend until
a name below is first used.  The public API is re-exported lazily.
"""

from __future__ import annotations

TYPE_CHECKING = False

__version__ = "0.1.0"

__all__ = [
    "Bus",
    "BusError",
    "ConflictError",
    "NotFoundError",
    "SetupError",
    "UsageError",
    "__version__",
    "open_bus",
]

_LAZY = {
    "Bus": "repobus.bus",
    "open_bus": "repobus.bus",
    "BusError": "repobus.errors",
    "ConflictError": "repobus.errors",
    "NotFoundError": "repobus.errors",
    "SetupError": "repobus.errors",
    "UsageError": "repobus.errors",
}

if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from repobus.bus import Bus, open_bus
    from repobus.errors import BusError, ConflictError, NotFoundError, SetupError, UsageError


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'repobus' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
