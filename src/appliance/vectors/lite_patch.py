"""One guarded replacement of a Milvus Lite function or method (the shape of the Lite patches).

A patch replaces one attribute of a Lite module or class with ours, and only when milvus-lite is
the version it was written against and the stock code's source hashes match the recorded ones
(``lite_fastpath.stock_matches``); otherwise it logs why and the stock code keeps running.
``install`` is idempotent, ``uninstall`` puts the stock attribute back (tests, benches).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from appliance.vectors.lite_fastpath import stock_matches

log = logging.getLogger("appliance.vectors.lite")


class AttributePatch:
    def __init__(
        self,
        description: str,
        owner: str,
        attribute: str,
        replacement: Any,
        supported_version: str,
        stock_sha256: dict[str, str],
    ) -> None:
        """``owner`` is ``module`` or ``module:Class``; ``stock_sha256`` maps ``attribute`` (and
        any other attribute of the owner this patch relies on) to its stock source's sha256."""
        self.description, self.owner, self.attribute = description, owner, attribute
        self.replacement, self.supported_version = replacement, supported_version
        self.stock_sha256 = stock_sha256
        self._stock: Any = None
        self._lock = threading.Lock()

    def _owner(self) -> Any:
        module_name, _, class_name = self.owner.partition(":")
        owner = importlib.import_module(module_name)
        return getattr(owner, class_name) if class_name else owner

    @property
    def stock(self) -> Any:
        """The stock attribute (installed or not)."""
        return self._stock if self._stock is not None else getattr(self._owner(), self.attribute)

    def install(self) -> bool:
        """Replace the stock attribute; True when ours is (now) in place."""
        with self._lock:
            if self._stock is not None:
                return True
            try:
                owner = self._owner()
            except ImportError as exc:  # milvus-lite missing: nothing to patch
                log.warning("milvus-lite not importable (%s): %s not installed", exc, self.description)
                return False
            sources: dict[str, Callable[..., Any] | None] = {
                name: getattr(owner, name, None) for name in self.stock_sha256
            }
            if not stock_matches(self.description, self.supported_version, sources, self.stock_sha256):
                return False
            self._stock = getattr(owner, self.attribute)
            setattr(owner, self.attribute, self.replacement)
            log.info("milvus-lite: %s installed", self.description)
            return True

    def uninstall(self) -> None:
        with self._lock:
            if self._stock is None:
                return
            setattr(self._owner(), self.attribute, self._stock)
            self._stock = None

    def is_installed(self) -> bool:
        return self._stock is not None
