"""Test-wide settings: property tests run from a fixed seed in CI (``CI`` set),
so a CI run checks the same examples every time; local runs keep exploring."""

from __future__ import annotations

import os

try:
    from hypothesis import settings
except ImportError:  # property tests skip themselves without hypothesis
    settings = None

if settings is not None:
    settings.register_profile("ci", derandomize=True, print_blob=True)
    if os.environ.get("CI"):
        settings.load_profile("ci")
