"""Report pages in the tests: the DOM headless Chromium renders for a page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tandem.htmlreport import chromium_path, render_check


def rendered(path: Path) -> str:
    """The DOM headless Chromium renders for the HTML page at ``path``. Outside CI a
    missing Chromium skips the test; in CI (``CI=true``) it is a failure (``.ci/run``
    installs it)."""
    if chromium_path() is None:
        message = "no chromium on PATH (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return render_check(path)
