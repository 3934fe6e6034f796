"""What every benchmark needs: a throwaway database and Django set up on it, and timing helpers.

Benchmarks run as scripts (`.venv/bin/python benchmarks/<name>.py`), so this folder is on sys.path.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "splice_bench"

__all__ = ["BENCH_DB", "ROOT", "ThrowawayDatabase", "median_ms", "page_median_and_queries", "setup_django"]


class ThrowawayDatabase:
    """Point Django at a new, empty database before it is set up; `drop()` removes it.

    A temporary PostgreSQL database `splice_bench` when DATABASE_URL points at PostgreSQL (checked to
    accept `connections_needed` more connections), else the settings' own SQLite file under a temporary
    folder (same timeout and IMMEDIATE transactions as config/settings.py).
    """

    def __init__(self, connections_needed: int = 1) -> None:
        self.tmpdir = Path(tempfile.mkdtemp(prefix="splice-bench-"))
        self.admin_url: str | None = None
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://")):
            try:
                self._create_postgres(url, connections_needed)
            except BaseException:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
                raise
            self.worker_url = os.environ["DATABASE_URL"]
        else:
            os.environ.pop("DATABASE_URL", None)
            os.environ["SPLICE_VAR_DIR"] = str(self.tmpdir)
            # For processes the benchmark starts (workers): the same file, with the settings' options.
            self.worker_url = f"sqlite:///{self.tmpdir / 'splice.sqlite3'}?timeout=20&transaction_mode=IMMEDIATE"
        self.label = f"PostgreSQL database {BENCH_DB}" if self.admin_url else f"SQLite in {self.tmpdir}"

    def _create_postgres(self, url: str, needed: int) -> None:
        import psycopg

        parts = urlsplit(url)
        self.admin_url = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            limit = int(conn.execute("SHOW max_connections").fetchone()[0])
            in_use = conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
            if needed + 5 > limit - in_use:
                sys.exit(f"PostgreSQL takes {limit} connections and {in_use} are in use: too few for {needed} "
                         "more. Ask for less concurrency, raise max_connections, or unset DATABASE_URL for SQLite.")
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
        os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))

    def analyze(self) -> None:
        """After the bulk load, what a running PostgreSQL has within a minute of such a load (autovacuum vacuums
        and analyzes a table after many inserts): planner statistics, without which it plans as if tables were
        empty, and the visibility map, without which no index answers a count on its own. SQLite keeps neither."""
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")

    def drop(self) -> None:
        from django.db import connections

        connections.close_all()
        if self.admin_url:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def setup_django() -> None:
    """Django with the suite's settings (loopback connector, test keys) on the database chosen above, migrated."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def median_ms(fn, *, runs: int = 15, warmup: int = 2) -> float:
    """The median wall time of `fn()` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def page_median_and_queries(client, url: str) -> tuple[float, int]:
    """A page's median time through Django's test client (asserting it answers 200), and its query count."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def get():
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)

    ms = median_ms(get)
    with CaptureQueriesContext(connection) as queries:
        get()
    return ms, len(queries)
