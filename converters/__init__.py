"""Source formats: the converter registry, auto-detection and the built-in converters.

Register a converter with ``@register`` or through the ``importer.converters`` entry-point group
(``name = "package.module:ConverterClass"``).
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from converters.base import Converter, ConvertOptions, Diagnostic
from importer.errors import ConfigError

__all__ = [
    "ConvertOptions",
    "Converter",
    "Diagnostic",
    "available",
    "detect",
    "get",
    "register",
]

_REGISTRY: dict[str, type[Converter]] = {}
_BUILTIN_MODULES: tuple[str, ...] = (
    "converters.conversation_format",
    "converters.everos",
    "converters.discord",
    "converters.discord_package",
    "converters.slack",
    "converters.messenger",
    "converters.tabular",
    "converters.whatsapp",
    "converters.telegram",
    "converters.chatgpt",
    "converters.claude",
)
_loaded = False


def register(cls: type[Converter]) -> type[Converter]:
    """Class decorator: make a converter available by its ``name`` and to auto-detection."""
    name = getattr(cls, "name", None)
    if not name:
        raise TypeError(f"{cls.__name__} needs a class attribute 'name'")
    _REGISTRY[name] = cls
    return cls


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILTIN_MODULES:
        import_module(module)
    for ep in entry_points(group="importer.converters"):
        register(ep.load())
    _loaded = True


def available() -> dict[str, type[Converter]]:
    """Every registered converter by name, in detection order."""
    _load()
    return dict(_REGISTRY)


def get(name: str) -> type[Converter]:
    """The converter called ``name``; the error lists the names there are."""
    converters = available()
    try:
        return converters[name]
    except KeyError:
        names = ", ".join(sorted(converters))
        raise ConfigError(f"unknown source {name!r}; available: {names}") from None


def detect(path: Path) -> type[Converter] | None:
    """The first registered converter that recognises ``path``, if any.

    Converters with ``auto_detect = False`` are skipped: they are chosen by name only.
    """
    for cls in available().values():
        if cls.auto_detect and cls.detect(path):
            return cls
    return None
