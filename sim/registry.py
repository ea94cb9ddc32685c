"""One registry per extension point: names mapped to implementations.

Every place where imcsim picks an implementation by name (topologies,
collective algorithms, workloads, strategies, backends, number formats) holds
a `Registry`. A registry is filled at import time by its own module and is
read-only afterwards in spirit: a duplicate key is a programming error raised
at import (`RegistryError`), and a failed lookup is a `ConfigError` that
names the key path and lists every valid name, in registration order.

Examples
--------
>>> shapes = Registry[int]("shape")
>>> shapes.add("square", 4)
>>> @shapes.register("triangle")
... def _three() -> int:
...     return 3
>>> shapes.names()
('square', 'triangle')
>>> shapes.get("square")
4
>>> shapes.get("circle", key="workload.shape")
Traceback (most recent call last):
...
sim.errors.ConfigError: workload.shape: unknown shape 'circle' (choose from square, triangle)
>>> shapes.add("square", 5)
Traceback (most recent call last):
...
sim.registry.RegistryError: shape 'square' is registered twice
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sim.errors import ConfigError

__all__ = ["Registry", "RegistryError"]

T = TypeVar("T")


class RegistryError(RuntimeError):
    """A registry was filled wrongly (a bug in imcsim, not bad input)."""


class Registry(Generic[T]):
    """Names of one kind of implementation (``kind``: ``"topology"``, ...) and
    what each stands for, in registration order."""

    def __init__(self, kind: str, declared: tuple[str, ...] | None = None) -> None:
        """``declared``: when given, the only names `add` accepts (`check_complete`
        then checks that every one was added, in this order)."""
        self.kind = kind
        self._declared = declared
        self._entries: dict[str, T] = {}

    def add(self, name: str, value: T) -> None:
        """Register ``value`` under ``name``.

        Raises
        ------
        RegistryError
            If ``name`` is already registered, or not among the declared names.
        """
        if name in self._entries:
            raise RegistryError(f"{self.kind} {name!r} is registered twice")
        if self._declared is not None and name not in self._declared:
            raise RegistryError(f"{self.kind} {name!r} is not declared "
                                f"(declared: {', '.join(self._declared)})")
        self._entries[name] = value

    def register(self, name: str) -> Callable[[T], T]:
        """A decorator registering the decorated function (or class) under ``name``;
        it returns what it decorated, unchanged."""

        def decorate(value: T) -> T:
            self.add(name, value)
            return value

        return decorate

    def get(self, name: str, key: str | None = None) -> T:
        """What ``name`` stands for.

        Raises
        ------
        ConfigError
            If ``name`` is not registered: names ``key`` (default: the kind) and
            lists the valid names.
        """
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            where = key or self.kind
            raise ConfigError(f"{where}: unknown {self.kind} {name!r} "
                              f"(choose from {', '.join(self._entries)})") from None

    def check_complete(self) -> None:
        """Raise `RegistryError` unless the registered names are the declared ones, in
        their order (nothing to check without declared names)."""
        if self._declared is not None and tuple(self._entries) != self._declared:
            raise RegistryError(f"{self.kind}: registered {', '.join(self._entries)}; "
                                f"declared {', '.join(self._declared)}")

    def names(self) -> tuple[str, ...]:
        """Every registered name, in registration order."""
        return tuple(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, value) pairs in registration order."""
        return iter(self._entries.items())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
