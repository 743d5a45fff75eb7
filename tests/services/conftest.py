"""A private esteira home per test module: these tests start and stop their own services.

The suite's shared broker and database (tests/service_fixtures.py) are never stopped
here; each module gets a home under /tmp (traversable, so the unprivileged PostgreSQL
account can reach it when the tests run as root) and ports of its own.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="esteira-svc-"))
    home.chmod(0o755)
    # the broker's jars are the repo's: link them instead of fetching them again
    (home / "jars").mkdir()
    (home / "jars" / "kafka").symlink_to(REPO / ".esteira" / "jars" / "kafka")
    yield home
    shutil.rmtree(home, ignore_errors=True)
