"""Health sweep throughput: one sweep of N connections (mixed Basic, API key, and OAuth 2.0 whose access tokens
have expired, so every one of those refreshes first) by 2 Celery worker processes, against an app server on
127.0.0.1; compared with a bare Python client making the same requests with the same concurrency.

    .venv/bin/python benchmarks/health_sweep.py [--connections 10000] [--concurrency 2] [--latency-ms 0]
        [--children-per-parent 0]

The sweep is the real one: the `splice.health.sweep` task through the broker (Redis when REDIS_URL is set,
else the embedded transport) to two `celery worker --pool threads --concurrency C` processes; each check task
takes SPLICE_HEALTH_CHECKS_PER_TASK connections with their leases, their tokens' refresh leases and a host
slot, sends each test request (and token refresh), and records status updates, history rows and the sweep
count together. The bare client is a thread pool of 2 × C threads, each with its own `requests.Session`,
sending the same requests (a token refresh, then the test request) and nothing else. It prints both rates,
their ratio (target ≥ 0.7), the CPU time each spends per check, and the workers' peak resident memory
(target < 300 MB each), ending with one line:

    checks_per_s=<x> bare_per_s=<x> ratio=<x> worker_peak_rss_mb=<x>

By default the app server on 127.0.0.1 answers at once, the issue's case and the hardest for the ratio:
all that differs between the two is what Splice does around the requests, which is CPU (the database
statements, including the new tokens' write, which is stored before the token is used; reading specs and
credentials). --latency-ms makes the app slower, like an API on the internet (~100 ms), which brings the
ratio close to 1. The whole run takes about a minute on a 2-core machine, whose other tenants make single
runs vary by ±10%. With --children-per-parent K, K of every K+1 connections are runtime user connections of
the one before them (their parent), each owned by another of 10 000 people: `--connections 100000
--children-per-parent 4` is the runtime-user case, whose cost per check should stay within 10% of the cost at
10 000. The database is thrown away at the end: a temporary PostgreSQL database `splice_bench`
when DATABASE_URL points at PostgreSQL, else a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import ROOT, ThrowawayDatabase  # the benchmarks folder is on sys.path

WORKERS = 2
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-client-secret"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000, help="connections to sweep (default 10000)")
    parser.add_argument("--concurrency", type=int, default=2, help="threads per worker process (default 2)")
    parser.add_argument("--latency-ms", type=float, default=0,
                        help="how long the app server takes to answer (default 0; an API on the internet takes ~100)")
    parser.add_argument("--children-per-parent", type=int, default=0,
                        help="runtime user connections per shared one, among the --connections (e.g. 4)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # run as the app server
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.connections < 3 or args.concurrency < 1:
        parser.error("--connections must be at least 3 and --concurrency at least 1")
    return args


# --- the app server (a separate process) ---------------------------------------------------------


def serve(latency: float, port_file: str) -> None:
    """Basic auth (password "pw-<user>"), API keys ("key-…" as a bearer token), and OAuth 2.0: /token swaps
    any refresh token for a new access token, which /api/me then accepts."""
    from tests.servers._http import HOST, Handler, LoopbackHTTPServer
    from tests.servers._http import serve as serve_forever

    issued: set[str] = set()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    class AppHandler(Handler):
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
        # 40 ms to every answer on a kept-alive connection.
        disable_nagle_algorithm = True

        def route(self):
            if self.url_path == "/_control/health":
                return self.send_json(200, {"ok": True})
            if self.url_path == "/_control/stats":
                with lock:
                    return self.send_json(200, dict(counts))
            with lock:
                counts[self.url_path] = counts.get(self.url_path, 0) + 1
            if latency:
                time.sleep(latency)
            if self.url_path == "/token" and self.command == "POST":
                form = self.form()
                if form.get("grant_type") != "refresh_token" or not form.get("refresh_token", "").startswith("rt-"):
                    return self.send_json(400, {"error": "invalid_grant"})
                token = f"at-{uuid.uuid4().hex}"
                with lock:
                    issued.add(token)
                return self.send_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600,
                                            "refresh_token": f"rt-{uuid.uuid4().hex}"})
            if self.url_path == "/api/me":
                return self.send_json(200, {"email": "ada@example.com"}) if self._authorized() else \
                    self.send_json(401, {"error": "unauthorized"})
            return self.send_json(404, {"error": "not_found"})

        def _authorized(self) -> bool:
            import base64

            scheme, _, value = self.headers.get("Authorization", "").partition(" ")
            if scheme == "Basic":
                user, _, password = base64.b64decode(value).decode().partition(":")
                return password == f"pw-{user}"
            if scheme == "Bearer":
                with lock:
                    return value.startswith("key-") or value in issued
            return False

    serve_forever(LoopbackHTTPServer((HOST, 0), AppHandler), port_file)


class AppServer:
    """This script run with --serve in its own process; `base_url` once it answers."""

    def __init__(self, workdir: Path, latency_ms: float) -> None:
        import requests

        port_file = workdir / "port"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port-file", str(port_file), "--latency-ms", str(latency_ms)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise SystemExit("the app server did not start")
            if port_file.exists() and port_file.read_text():
                self.base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
                try:
                    if requests.get(f"{self.base_url}/_control/health", timeout=1).ok:
                        return
                except requests.RequestException:
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit("the app server did not answer within 30 s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()  # by pid
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# --- the connections -----------------------------------------------------------------------------


PEOPLE = 10_000


def make_people(count: int) -> list[int]:
    """Ids of `count` people who own runtime user connections (no password: they never sign in here)."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User

    unusable = make_password(None)
    User.objects.bulk_create([User(email=f"person{p:05}@example.com", password=unusable) for p in range(count)],
                             batch_size=2000)
    return list(User.objects.filter(email__startswith="person").order_by("pk").values_list("pk", flat=True))


def make_connections(count: int, base_url: str, children_per_parent: int = 0) -> list[tuple[str, str]]:
    """`count` connected connections, a third of each kind, in bulk; with children, each parent is followed by
    its runtime user connections of the same kind. Returns what the bare client sends for each: (kind,
    credential)."""
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import project_create
    from connections.catalog import origin_of
    from connections.credentials import seal_secret
    from connections.models import Connection
    from connections.services import oauth_profile_create

    user = User.objects.create_user(email="bench@example.com", password="bench-Splice-123!")
    user.groups.add(Group.objects.get(name="Builder"))
    project = project_create(name="Benchmark", acting_user=user)
    oauth_profile_create(connector_key="loopback", name="Bench app", client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                         acting_user=user, is_default=True, endpoints=[f"{base_url}/authorize", f"{base_url}/token"])
    origin = origin_of(base_url)
    now = timezone.now()
    people = make_people(PEOPLE) if children_per_parent else []
    family = children_per_parent + 1
    rows, plan = [], []
    for i in range(count):
        kind = ("basic", "bearer", "oauth2")[(i // family) % 3]
        settings = {"base_url": base_url}
        if kind == "oauth2":
            settings |= {"authorize_url": f"{base_url}/authorize", "token_url": f"{base_url}/token"}
        row = Connection(name=f"Bench {i:05}", connector_key="loopback", project=project, auth_method=kind,
                         settings=settings, status=Connection.Status.CONNECTED, created_by=user, authorized_by=user,
                         authorized_at=now, last_ok_at=now, identity="ada@example.com", authorized_origins=[origin])
        if kind == "basic":
            row.username = f"user{i}"
            seal_secret(row, "password", f"pw-user{i}")
            plan.append((kind, f"user{i}"))
        elif kind == "bearer":
            seal_secret(row, "api_key", f"key-{i}")
            plan.append((kind, f"key-{i}"))
        else:
            seal_secret(row, "access_token", f"at-expired-{i}")
            seal_secret(row, "refresh_token", f"rt-{i}")
            row.access_token_expires_at = now - timedelta(minutes=5)  # every one refreshes first
            plan.append((kind, f"rt-{i}"))
        rows.append(row)
    if children_per_parent:
        # Parents first, so their ids exist when their children point at them.
        Connection.objects.bulk_create(rows[::family], batch_size=1000)
        for i, row in enumerate(rows):
            if i % family:
                row.parent, row.owner_id = rows[i - i % family], people[i % PEOPLE]
        Connection.objects.bulk_create([row for i, row in enumerate(rows) if i % family], batch_size=1000)
    else:
        Connection.objects.bulk_create(rows, batch_size=1000)
    return plan


# --- the bare client -----------------------------------------------------------------------------


def bare_client(plan: list[tuple[str, str]], base_url: str, threads: int) -> tuple[float, float]:
    """The same requests with the same concurrency and nothing else; returns checks per second and the CPU
    time it used per check, in ms."""
    import requests

    local = threading.local()

    def check(item: tuple[str, str]) -> int:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        kind, credential = item
        if kind == "basic":
            response = session.get(f"{base_url}/api/me", auth=(credential, f"pw-{credential}"), timeout=15)
        elif kind == "bearer":
            response = session.get(f"{base_url}/api/me", headers={"Authorization": f"Bearer {credential}"},
                                   timeout=15)
        else:
            token = session.post(f"{base_url}/token", data={"grant_type": "refresh_token", "refresh_token": credential},
                                 auth=(CLIENT_ID, CLIENT_SECRET), timeout=15).json()["access_token"]
            response = session.get(f"{base_url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=15)
        return response.status_code

    started, cpu_before = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(pool.map(check, plan))
    elapsed = time.perf_counter() - started
    cpu_ms_per_check = (time.process_time() - cpu_before) * 1000 / len(plan)
    if statuses.count(200) != len(plan):
        raise SystemExit(f"the bare client got {len(plan) - statuses.count(200)} failures")
    return len(plan) / elapsed, cpu_ms_per_check


# --- the workers ---------------------------------------------------------------------------------


def start_workers(database: ThrowawayDatabase, queue: str, concurrency: int) -> list[subprocess.Popen]:
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT),
        "DATABASE_URL": database.worker_url, "SPLICE_HEALTH_QUEUE": queue, "SPLICE_HEALTH_JITTER": "0",
        # One app host serves every connection here: let all of the workers' threads talk to it at once,
        # as the bare client does.
        "SPLICE_HEALTH_PER_HOST_CONCURRENCY": str(WORKERS * concurrency),
    }
    workers = []
    for n in range(WORKERS):
        log = open(database.tmpdir / f"worker-{n}.log", "w")  # noqa: SIM115 (the process keeps it)
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "-n", f"bench{n}@%h",
             "--pool", "threads", "--concurrency", str(concurrency), "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        ))
    return workers


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time the process has used so far (user + system), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sweep(queue: str, count: int, workers: list[subprocess.Popen]) -> tuple[float, object, float]:
    from accounts.tasks import ping
    from connections.models import HealthSweep
    from connections.tasks import health_sweep

    # Both workers up and warm (imports, database connections) before the clock starts.
    for result in [ping.apply_async(args=[str(n)], queue=queue) for n in range(4 * WORKERS)]:
        result.get(timeout=120)
    cpu_before = sum(cpu_seconds(worker.pid) for worker in workers)
    started = time.perf_counter()
    sweep_id = health_sweep.apply_async(queue=queue).get(timeout=120)
    if sweep_id is None:
        raise SystemExit("a sweep was already running")
    last_report = started
    while True:
        row = HealthSweep.objects.get(pk=sweep_id)
        if row.finished_at is not None:
            break
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit("a worker died; see its log")
        if time.perf_counter() - last_report > 10:
            last_report = time.perf_counter()
            print(f"  … {row.done} of {row.planned} checked after {last_report - started:.0f} s", flush=True)
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    cpu_ms_per_check = (sum(cpu_seconds(worker.pid) for worker in workers) - cpu_before) * 1000 / count
    return count / elapsed, row, cpu_ms_per_check


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    if args.serve:
        serve(args.latency_ms / 1000, args.port_file)
        return 0
    os.chdir(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    database = ThrowawayDatabase()
    server, workers = None, []
    try:
        import django

        django.setup()
        from django.core.management import call_command

        from connections.models import Connection

        call_command("migrate", interactive=False, verbosity=0)
        server = AppServer(database.tmpdir, args.latency_ms)
        base_url = server.base_url
        threads = WORKERS * args.concurrency
        print(f"{args.connections} connections; {database.label}; app server {base_url} answering in "
              f"{args.latency_ms:g} ms; {WORKERS} workers × {args.concurrency} threads", flush=True)
        started = time.perf_counter()
        plan = make_connections(args.connections, base_url, args.children_per_parent)
        print(f"made the connections in {time.perf_counter() - started:.1f} s", flush=True)

        bare_per_s, bare_cpu_ms = bare_client(plan, base_url, threads)
        print(f"bare client: {bare_per_s:.0f} checks/s ({threads} threads); CPU time {bare_cpu_ms:.2f} ms per check",
              flush=True)

        queue = f"splice-bench-{uuid.uuid4().hex[:8]}"
        workers = start_workers(database, queue, args.concurrency)
        checks_per_s, row, cpu_ms_per_check = sweep(queue, args.connections, workers)
        rss = max(peak_rss_mb(worker.pid) for worker in workers)
        ok = Connection.objects.filter(status=Connection.Status.CONNECTED, last_checked_at__isnull=False).count()
        print(f"sweep: {checks_per_s:.0f} checks/s; {row.done} checked ({row.ok} OK, {row.failed} failed, "
              f"{row.skipped} skipped); {ok} connected and checked; took {row.duration_seconds:.1f} s in the "
              f"database's clock", flush=True)
        print(f"workers' CPU time: {cpu_ms_per_check:.2f} ms per check (both processes)")
        for worker in workers:
            print(f"worker {worker.pid}: peak RSS {peak_rss_mb(worker.pid):.0f} MB")
        retries = sum((database.tmpdir / f"worker-{n}.log").read_text().count(" retry: ") for n in range(WORKERS))
        print(f"check tasks retried (app host or connection busy): {retries}")
        failed = row.ok != args.connections
        if failed:
            print(f"worker log (tail):\n{(database.tmpdir / 'worker-0.log').read_text()[-3000:]}")
    finally:
        for worker in workers:
            worker.terminate()  # by pid
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if server is not None:
            server.stop()
        database.drop()
    print(f"checks_per_s={checks_per_s:.1f} bare_per_s={bare_per_s:.1f} ratio={checks_per_s / bare_per_s:.2f} "
          f"worker_peak_rss_mb={rss:.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
