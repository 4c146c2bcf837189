"""Text generation backends: one small module each, found without being listed (like the ingesters).

Every backend answers many chats at once, greedily, so the gate can compare two models on the same
probes with the same decoding. `open_backend({"backend": "mlx", "model": ...})` gives one.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from notme.backends.base import Backend, Chat
from notme.errors import NotmeError

__all__ = ["Backend", "Chat", "backend_names", "open_backend"]


def _registry() -> dict[str, type[Backend]]:
    import notme.backends as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"notme.backends.{module.name}")
    # only notme's own modules: a Backend subclass defined elsewhere (a test's fake) is not a named backend
    return {cls.name: cls for cls in Backend.__subclasses__() if cls.__module__.startswith("notme.backends.")}


def backend_names() -> list[str]:
    return sorted(_registry())


def open_backend(spec: dict[str, Any]) -> Backend:
    """A backend from a mapping such as {"backend": "openai", "url": "http://127.0.0.1:8080/v1", "model": "x"}."""
    registry = _registry()
    name = spec.get("backend")
    if name not in registry:
        raise NotmeError(f"unknown generation backend {name!r}; known: {', '.join(sorted(registry))}")
    options = {k: v for k, v in spec.items() if k != "backend"}
    return registry[name](**options)
