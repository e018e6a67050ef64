"""Fixtures of the connector tests."""

import pytest
from localhttp import serve


@pytest.fixture
def server():
    """A real HTTP server on 127.0.0.1 (see tests/support/localhttp.py)."""
    with serve() as httpd:
        yield httpd
