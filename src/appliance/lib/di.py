"""How a handler names an injected collaborator (a service, the settings, the object store)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from litestar.params import Dependency

T = TypeVar("T")

Injected = Annotated[T, Dependency(skip_validation=True)]
"""A value a ``Provide`` dependency hands in, typed. Not validated per request: it is no input,
and several are protocols (an object store, the recognition port) that no instance check fits."""
