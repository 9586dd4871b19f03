"""The courses, loaded once per process from TEND_COURSES_DIR."""

from __future__ import annotations

import functools

from core.config import get_settings
from courses.loader import load_catalog
from courses.model import Catalog


@functools.cache
def get_catalog() -> Catalog:
    return load_catalog(get_settings().courses_path)
