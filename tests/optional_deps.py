"""Optional dependencies of some tests: skipped when missing, except in CI (``CI=true``),
where a missing one fails the tests that need it (the CI installs every extra)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def need(module: str) -> ModuleType:
    """Import ``module``; outside CI skip the calling test module when it is missing."""
    if os.environ.get("CI", "").lower() == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module)
