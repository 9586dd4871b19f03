"""The courses, read from TEND_COURSES_DIR and read again whenever a file there changes.

A published edit reaches the worker, beat and web without a restart. An edit with an
error is logged and ignored: the last good courses stay in use until it is fixed.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from pathlib import Path

from core.config import get_settings
from courses.loader import load_catalog
from courses.model import Catalog, CourseError

log = logging.getLogger(__name__)

Fingerprint = tuple[tuple[str, int, int], ...]


class CatalogCache:
    """The courses, looked at again on disk at most once every `recheck_every` seconds."""

    def __init__(self, root: Path, recheck_every: float = 0.0) -> None:
        self.root = root
        self.recheck_every = recheck_every
        self._lock = threading.Lock()
        self._fingerprint: Fingerprint | None = None
        self._catalog: Catalog | None = None
        self._checked_at = float("-inf")

    def get(self) -> Catalog:
        """The courses as the files are now; the first read raises CourseError."""
        if self._catalog is not None and time.monotonic() - self._checked_at < self.recheck_every:
            return self._catalog
        fingerprint = _fingerprint(self.root)
        with self._lock:
            self._checked_at = time.monotonic()
            if fingerprint != self._fingerprint:
                self._reload(fingerprint)
            assert self._catalog is not None
            return self._catalog

    def _reload(self, fingerprint: Fingerprint) -> None:
        try:
            catalog = load_catalog(self.root)
        except CourseError as error:
            if self._catalog is None:
                raise
            log.error("the edited courses have mistakes; still using the last good ones:\n%s",
                      error)  # fmt: skip
        else:
            self._catalog = catalog
            if self._fingerprint is not None:
                log.info("courses changed on disk: read them again")
        self._fingerprint = fingerprint


def _fingerprint(root: Path) -> Fingerprint:
    """Every file's name, size and modification time: cheap to take once a tick."""
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".py":
            stat = path.stat()
            found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)


@functools.cache
def _cache() -> CatalogCache:
    # Every web request asks for the courses: walking the folder each time would cost a
    # signup more than its database work. An edit shows within a second.
    return CatalogCache(get_settings().courses_path, recheck_every=1.0)


def get_catalog() -> Catalog:
    return _cache().get()
