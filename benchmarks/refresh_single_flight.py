"""Single-flight token refresh under load: N concurrent callers on one OAuth 2.0 connection whose access token
has just expired, against the suite's loopback authorization server (django-oauth-toolkit on 127.0.0.1).

    .venv/bin/python benchmarks/refresh_single_flight.py [--callers 200] [--token-delay-ms 0]

It runs N callers at once with a fresh token (the baseline), then expires the token at the server and in
the database and runs N callers at once again. Every caller makes one authorized request; only one of them
may refresh. It prints the token requests the server saw (must be 1), the failed calls (must be 0) and the
p50/p99 latency the expiry added over the fresh-token calls, and ends with one line:

    token_requests=<n> failures=<n> p50_added_ms=<x> p99_added_ms=<x>

With hundreds of callers on one machine most of a call's latency is queueing (at the server, and for the GIL
among the callers), so the added latency, one refresh of a few tens of milliseconds, is within that noise and
may even come out negative on a busy machine. The exit status is 1 when either count is wrong.

The database is thrown away at the end: a temporary PostgreSQL database `splice_bench` when DATABASE_URL
points at PostgreSQL (its server must accept one connection per caller), else a SQLite file in a temporary
folder with the options of config/settings.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

from common import ROOT, ThrowawayDatabase  # the benchmarks folder is on sys.path

EMAIL = "ada@example.com"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=200, help="concurrent callers (default 200)")
    parser.add_argument("--token-delay-ms", type=int, default=0,
                        help="make the server's token endpoint this much slower, like a real provider")
    args = parser.parse_args()
    if args.callers < 1:
        parser.error("--callers must be at least 1")
    return args


# --- the callers ---------------------------------------------------------------------------------


def run_callers(pk: int, callers: int) -> tuple[list[float], int]:
    """Start `callers` threads that each make one authorized request at the same moment.

    Each thread opens its own database connection before the start line, so the timing covers only the
    call itself: reading the connection, refreshing (or waiting for the refresh), and the request.
    Returns the latencies of the successful calls (seconds) and how many calls failed.
    """
    from django.db import connection as db

    from connections.client import connection_client
    from connections.models import Connection

    start = threading.Barrier(callers)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            Connection.objects.filter(pk=pk).exists()  # open this thread's database connection
            start.wait(timeout=60)
            began = time.perf_counter()
            status = connection_client(Connection.objects.get(pk=pk)).request("GET", "/api/me").status_code
            elapsed = time.perf_counter() - began
            with lock:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    failures.append(f"HTTP {status}")
        except Exception as exc:  # noqa: BLE001 (every failure is counted and reported)
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            db.close()

    threads = [threading.Thread(target=call, name=f"caller-{n}") for n in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for reason in sorted(set(failures))[:5]:
        print(f"  failure: {reason}")
    return latencies, len(failures)


def percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- the run -------------------------------------------------------------------------------------


def authorized_connection(server) -> int:
    """A connected OAuth 2.0 connection, authorized through the whole code + PKCE flow like a browser would."""
    from django.contrib.auth.models import Group

    from accounts.models import User
    from accounts.services import project_create
    from connections import services
    from connections.oauth import connection_authorize_begin, connection_authorize_complete
    from tests.servers.fixtures import query_param

    user = User.objects.create_user(email="bench@example.com", password="bench-Splice-123!")
    user.groups.add(Group.objects.get(name="Builder"))
    project = project_create(name="Benchmark", acting_user=user)
    services.oauth_profile_create(connector_key="loopback", name="Loopback app", client_id=server.client_id,
                                  client_secret=server.client_secret, acting_user=user, is_default=True,
                                  endpoints=server.endpoints)
    connection = services.connection_create(
        project=project, connector_key="loopback", name="Benchmark account", acting_user=user, auth_method="oauth2",
        settings_values={"base_url": server.base_url, "authorize_url": server.authorize_url,
                         "token_url": server.token_url},
    )
    url = connection_authorize_begin(connection=connection, acting_user=user, session_key="bench")
    callback = server.authorize(url, email=EMAIL)
    params = {name: query_param(callback, name) for name in ("code", "state")}
    connection, outcome = connection_authorize_complete(params=params, acting_user=user, session_key="bench")
    if not outcome.ok:
        raise SystemExit(f"could not authorize the benchmark connection: {outcome.message}")
    return connection.pk


def benchmark(args: argparse.Namespace, server) -> tuple[int, int, float, float]:
    from datetime import timedelta

    from django.utils import timezone

    from connections.models import Connection

    pk = authorized_connection(server)
    run_callers(pk, min(args.callers, 10))  # warm-up: imports, the server's first requests

    fresh, fresh_failures = run_callers(pk, args.callers)
    print(f"fresh token:   {len(fresh)} calls ok, {fresh_failures} failed; "
          f"p50 {percentile(fresh, 50) * 1000:.1f} ms, p99 {percentile(fresh, 99) * 1000:.1f} ms")

    server.reset()
    server.set_token_delay(args.token_delay_ms)
    server.expire(user=EMAIL)
    Connection.objects.filter(pk=pk).update(access_token_expires_at=timezone.now() - timedelta(seconds=1))
    version = Connection.objects.get(pk=pk).token_version

    expired, failures = run_callers(pk, args.callers)
    token_requests = server.token_requests()
    responses = ", ".join(f"{key}: {n}" for key, n in sorted(server.stats()["token_responses"].items()))
    print(f"expired token: {len(expired)} calls ok, {failures} failed; "
          f"p50 {percentile(expired, 50) * 1000:.1f} ms, p99 {percentile(expired, 99) * 1000:.1f} ms"
          if expired else f"expired token: every call failed ({failures})")
    row = Connection.objects.get(pk=pk)
    print(f"token requests at the server: {token_requests} ({responses}); "
          f"token version {version} -> {row.token_version}; "
          f"lease {'released' if not row.refresh_lease_owner else 'still held'}")
    failures += fresh_failures
    if not fresh or not expired:
        return token_requests, failures, float("nan"), float("nan")
    p50 = (percentile(expired, 50) - percentile(fresh, 50)) * 1000
    p99 = (percentile(expired, 99) - percentile(fresh, 99)) * 1000
    return token_requests, failures, p50, p99


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    database = ThrowawayDatabase(args.callers)
    server = None
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        from tests.servers.fixtures import splice_callback_url, start_oauth2_server

        call_command("migrate", interactive=False, verbosity=0)
        workdir = database.tmpdir / "oauth2-server"
        workdir.mkdir()
        server = start_oauth2_server(workdir, [splice_callback_url(settings.SPLICE_BASE_URL)])
        print(f"{args.callers} callers; {database.label}; OAuth2 server {server.base_url} (pid {server.server.pid})")
        token_requests, failures, p50, p99 = benchmark(args, server)
        if token_requests != 1 or failures:
            print(f"OAuth2 server log (tail):\n{server.log_tail(60)}")
    finally:
        if server is not None:
            server.server.stop()  # by its pid (Popen.terminate)
        database.drop()
    print(f"token_requests={token_requests} failures={failures} p50_added_ms={p50:.1f} p99_added_ms={p99:.1f}")
    return 0 if token_requests == 1 and failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
