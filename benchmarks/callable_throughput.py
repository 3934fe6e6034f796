"""Callable recipe throughput: a callable recipe whose one action makes a Basic-auth GET to an app on 127.0.0.1
and returns its JSON, called over HTTP with a personal API token, on the production stack (gunicorn serving
config.wsgi, Celery workers, Redis, PostgreSQL when DATABASE_URL is set); compared, at the same concurrency, with a
bare Python client making the same GET (the ceiling) and a bare Celery task making it.

    REDIS_URL=redis://127.0.0.1:6379/12 DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/callable_throughput.py [--concurrency 1,8] [--seconds 10] [--profile]

Each measurement is a closed loop: C client threads, each with its own `requests.Session`, send one call after
another for --warmup seconds (not counted) and then --seconds (counted). Three are made at each concurrency C:

- the recipe: `POST /api/v1/recipes/<id>/call` with `Authorization: Bearer <token>` and `{"item_id": n}` to
  gunicorn (`--worker-class gthread`, --web-workers processes × --web-threads threads). The view authenticates the
  token, creates the job (enqueued on commit through Redis) and waits for it; a Celery worker runs it (the
  recipe's trigger, the GET of the loopback connector's "Get item" through the connection's client, "Return
  result" built from the GET's JSON with data pills) and wakes the view, which answers 200 with the result;
- the bare client: the same GET from the client threads straight to the app;
- the bare Celery task: `bench.get_item.delay(n).get()` (benchmarks/callable_tasks.py, which the workers load
  with `--include`): the same GET in a worker and the JSON back through the result backend, no Splice code.

Every answer is checked (status and JSON). For the recipe it reports calls per second, their latency (p50, p99),
the CPU time (user + system) that the web and the worker processes, with all their children, spent per call (each
part, and in the last line their sum), the whole machine's busy CPU time per call (PostgreSQL, Redis, the client
and the app server included), and the peak resident memory (VmHWM) of the web and worker processes summed (pages a
forked child shares with its parent count twice: an upper bound; the Pss now is printed beside it). Targets at
concurrency 8: ratio_client ≥ 0.25, cpu_ms_per_call ≤ 10, peak_rss_mb ≤ 300. Everything shares the machine
(the issue's has 2 CPUs, and they are all but saturated at concurrency 8), and its other tenants make single runs
vary by ±15%; CPU times grow with them too. It ends with one line per concurrency:

    concurrency=<c> calls_per_s=<x> bare_client_per_s=<x> bare_celery_per_s=<x> ratio_client=<x> ratio_celery=<x> \\
        p50_ms=<x> p99_ms=<x> cpu_ms_per_call=<x> peak_rss_mb=<x>

The defaults are one gunicorn gthread worker of 8 threads (each call holds a thread while it waits for its job,
so 8 callers need 8 threads; a second process beats the GIL but not the 2 CPUs, and costs ~85 MB) and one Celery
worker process of 8 threads (--pool threads: the jobs wait on PostgreSQL and the app more than they compute; two
processes or prefork children measured no faster on 2 CPUs and cost 115–190 MB more, past the 300 MB target).
Other shapes: --web-workers/--web-threads, --pool threads with --worker-processes × --worker-threads, or
--pool prefork with --worker-threads children.

--profile then looks at where the time goes, at the highest concurrency: py-spy (when found on PATH or at
$BENCH_PY_SPY; no dependency of Splice) samples gunicorn and the workers during a window of calls; the database
statements of one call are listed, web side (the view through Django's test client in this process, its job run
by the real worker) and worker side (runner.job_run in this process); both are profiled with cProfile on CPU time
in this process; and a worker started with BENCH_PROFILE_DIR and --pool solo (benchmarks/callable_tasks.py)
profiles a window of calls whole, Celery's part included.

Redis is required (the call waits on it, Celery's broker and results live there): set REDIS_URL to a database of
your own. The database is thrown away at the end: a temporary PostgreSQL database `splice_bench` when
DATABASE_URL points at PostgreSQL, else a SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, ThrowawayDatabase  # the benchmarks folder is on sys.path

BENCHMARKS = Path(__file__).resolve().parent
APP_USER, APP_PASSWORD = "bench", "bench-pass-123"
ITEMS = 100  # calls ask for items 1..ITEMS in turn


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,8", help="comma-separated client concurrencies (default 1,8)")
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per measurement (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each (default 2)")
    parser.add_argument("--pool", choices=["threads", "prefork"], default="threads", help="Celery pool")
    parser.add_argument("--worker-processes", type=int, default=1,
                        help="Celery worker processes for --pool threads (default 1)")
    parser.add_argument("--worker-threads", type=int, default=8,
                        help="threads per worker process, or prefork children (default 8)")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn worker processes (default 1)")
    parser.add_argument("--web-threads", type=int, default=8, help="threads per gunicorn worker (default 8)")
    parser.add_argument("--worker-loglevel", default="INFO",
                        help="Celery worker log level (default INFO, as deployed: two lines per task)")
    parser.add_argument("--skip-bare", action="store_true", help="measure the recipe only (no ratios)")
    parser.add_argument("--profile", action="store_true", help="profile a further window at the top concurrency")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # run as the app server
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return args
    try:
        args.levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        parser.error("--concurrency takes whole numbers separated by commas, like 1,8")
    if not args.levels or min(args.levels) < 1 or args.seconds <= 0 or args.warmup < 0:
        parser.error("concurrencies must be at least 1 and --seconds positive")
    if min(args.worker_processes, args.worker_threads, args.web_workers, args.web_threads) < 1:
        parser.error("worker and web process and thread counts must be at least 1")
    if not os.environ.get("REDIS_URL", "").startswith("redis"):
        parser.error("set REDIS_URL (e.g. redis://127.0.0.1:6379/12): the call waits on Redis, and Celery uses it")
    return args


# --- the app server (a separate process) ---------------------------------------------------------


def serve(port_file: str) -> None:
    """GET /api/me and /api/items/<id> behind HTTP Basic auth (APP_USER / APP_PASSWORD); counts the item reads."""
    from tests.servers._http import HOST, Handler, LoopbackHTTPServer
    from tests.servers._http import serve as serve_forever

    expected = "Basic " + base64.b64encode(f"{APP_USER}:{APP_PASSWORD}".encode()).decode()
    counts = Counter()
    lock = threading.Lock()

    class AppHandler(Handler):
        # Headers and body leave in two writes: without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
        # 40 ms to every answer on a kept-alive connection.
        disable_nagle_algorithm = True

        def route(self):
            path = self.url_path
            if path == "/_control/health":
                return self.send_json(200, {"ok": True})
            if path == "/_control/stats":
                with lock:
                    return self.send_json(200, dict(counts))
            if self.headers.get("Authorization") != expected:
                return self.send_json(401, {"error": "unauthorized"})
            if path == "/api/me":
                return self.send_json(200, {"email": "ada@example.com", "login": "ada"})
            if path.startswith("/api/items/") and path.removeprefix("/api/items/").isdigit():
                with lock:
                    counts["item_reads"] += 1
                item_id = int(path.removeprefix("/api/items/"))
                return self.send_json(200, {"id": item_id, "name": f"Item {item_id}"})
            return self.send_json(404, {"error": "not_found"})

    serve_forever(LoopbackHTTPServer((HOST, 0), AppHandler), port_file)


class AppServer:
    """This script run with --serve in its own process; `base_url` once it answers."""

    def __init__(self, workdir: Path) -> None:
        import requests

        port_file = workdir / "port"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port-file", str(port_file)],
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

    def item_reads(self) -> int:
        import requests

        return requests.get(f"{self.base_url}/_control/stats", timeout=5).json().get("item_reads", 0)

    def stop(self) -> None:
        _stop(self.process)


def _stop(process: subprocess.Popen, timeout: float = 15) -> None:
    process.terminate()  # by pid
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- processes: their trees, CPU time and memory --------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """`root` and all of its live descendants (gunicorn's and prefork's children, py-spy excluded)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                continue  # gone meanwhile
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def cpu_seconds(roots: list[int]) -> float:
    """CPU time (user + system) the processes and all their children have used so far, reaped ones included."""
    ticks = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                fields = _stat_fields(pid)
            except OSError:
                continue
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(roots: list[int]) -> float:
    """The peak resident set sizes (VmHWM) of the processes and their live children, summed, in MB. Pages that
    forked children share with their parent count in each, so this is an upper bound of what they hold."""
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
            total += int(match.group(1)) if match else 0
    return total / 1024


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy so far (every CPU; all but idle and iowait), in seconds."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def pss_mb(roots: list[int]) -> float:
    """What the processes hold now, shared pages divided among their sharers (Pss), summed, in MB."""
    total = 0
    for root in roots:
        for pid in process_tree(root):
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            match = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
            total += int(match.group(1)) if match else 0
    return total / 1024


# --- the stack: gunicorn and the Celery workers ---------------------------------------------------


class Stack:
    """gunicorn serving config.wsgi and the Celery workers, on the benchmark's database and Redis."""

    def __init__(self, args: argparse.Namespace, database: ThrowawayDatabase, app_url: str, queue: str,
                 profile_dir: Path | None = None) -> None:
        self.args, self.workdir, self.queue = args, database.tmpdir, queue
        # A profiled worker runs its tasks in its one thread (--pool solo): cProfile cannot tell threads apart.
        self.pool = "solo" if profile_dir is not None else args.pool
        self.env = {
            **os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database.worker_url,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCHMARKS)]), "SPLICE_JOBS_QUEUE": queue,
            "SPLICE_ALLOWED_HOSTS": "127.0.0.1", "SPLICE_DEBUG": "0",
            "BENCH_APP_URL": app_url, "BENCH_APP_USER": APP_USER, "BENCH_APP_PASSWORD": APP_PASSWORD,
        }
        if profile_dir is not None:
            self.env["BENCH_PROFILE_DIR"] = str(profile_dir)
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.base_url = ""

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in [self.web, *self.workers] if p is not None]

    @property
    def web_pids(self) -> list[int]:
        return [self.web.pid] if self.web else []

    @property
    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.workers]

    def start(self) -> None:
        args = self.args
        web_log = self.workdir / "gunicorn.log"
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", "127.0.0.1:0",
             "--worker-class", "gthread", "--workers", str(args.web_workers), "--threads", str(args.web_threads),
             "--log-level", "info", "--timeout", "60", "--keep-alive", "30"],
            cwd=ROOT, env=self.env, stdout=open(web_log, "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )
        if self.pool == "solo":
            commands = [["--pool", "solo"]]
        elif self.pool == "threads":
            commands = [["--pool", "threads", "--concurrency", str(args.worker_threads)]] * args.worker_processes
        else:
            commands = [["--pool", "prefork", "--concurrency", str(args.worker_threads)]]
        for n, pool in enumerate(commands):
            log = open(self.workdir / f"worker-{n}.log", "w")  # noqa: SIM115 (the process keeps it)
            self.workers.append(subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queue, "-n", f"bench{n}@%h",
                 "--include", "callable_tasks", *pool, "--loglevel", args.worker_loglevel,
                 "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            ))
        self.base_url = self._web_address(web_log)
        self._warm()

    def _web_address(self, log: Path) -> str:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            if found:
                try:
                    requests.get(f"{found.group(1)}/", timeout=5)
                    return found.group(1)
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise SystemExit(f"gunicorn did not answer within 60 s:\n{log.read_text()[-3000:]}")

    def _warm(self) -> None:
        """Every worker up (imports, a database connection), before any clock starts."""
        from accounts.tasks import ping

        slots = len(self.workers) * self.args.worker_threads
        for result in [ping.apply_async(args=[str(n)], queue=self.queue) for n in range(2 * slots)]:
            result.get(timeout=120)

    def check_alive(self) -> None:
        if self.web is not None and self.web.poll() is not None:
            raise SystemExit(f"gunicorn died; see {self.workdir / 'gunicorn.log'}")
        if any(w.poll() is not None for w in self.workers):
            raise SystemExit(f"a worker died; see {self.workdir}/worker-*.log")

    def stop(self) -> None:
        for process in [*self.workers, self.web]:
            if process is not None and process.poll() is None:
                process.terminate()  # by pid
        for process in [*self.workers, self.web]:
            if process is not None:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


# --- the closed loop ------------------------------------------------------------------------------


@dataclass
class Measurement:
    calls: int
    seconds: float
    latencies_ms: list[float]
    cpu_ms: dict[str, float]  # CPU time per call of each group of processes watched (or of this process)
    machine_ms_per_call: float  # of the whole machine: every process, PostgreSQL, Redis, the client, the app
    failures: int
    first_failure: str = ""

    @property
    def per_s(self) -> float:
        return self.calls / self.seconds

    @property
    def cpu_ms_per_call(self) -> float:
        return sum(self.cpu_ms.values())

    @property
    def machine_busy(self) -> float:
        """How busy the machine's CPUs were, 0 to 1."""
        return self.machine_ms_per_call * self.calls / 1000 / self.seconds / os.cpu_count()

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _cpu_now(watch: dict[str, list[int]] | None) -> dict[str, float]:
    if watch is None:
        return {"this process": time.process_time()}
    return {name: cpu_seconds(pids) for name, pids in watch.items()}


def closed_loop(make_caller: Callable[[], Callable[[int], None]], concurrency: int, *, warmup: float,
                seconds: float, watch: dict[str, list[int]] | None) -> Measurement:
    """`concurrency` threads, each calling its own caller (made in its thread) back to back, for `warmup` and
    then `seconds`. Counted: the calls that finish within the measured window; their latency when they also began
    in it. CPU time is that of each group of processes `watch` names (None: this process) over the window."""
    start_line = threading.Barrier(concurrency + 1)
    lock = threading.Lock()
    samples: list[tuple[float, float]] = []  # (began, ended), perf_counter
    failures: list[str] = []
    stop = threading.Event()

    def run(thread_no: int) -> None:
        call = make_caller()
        start_line.wait()
        n = thread_no
        mine = []
        while not stop.is_set():
            n += concurrency
            began = time.perf_counter()
            try:
                call(n % ITEMS + 1)
            except Exception as exc:  # noqa: BLE001 (every failure is counted and the first one shown)
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)
                continue
            mine.append((began, time.perf_counter()))
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    start_line.wait()
    time.sleep(warmup)
    failed_before = len(failures)
    cpu_before, busy_before = _cpu_now(watch), machine_busy_seconds()
    begin = time.perf_counter()
    time.sleep(seconds)
    end = time.perf_counter()
    cpu_after, busy_after = _cpu_now(watch), machine_busy_seconds()
    failed = len(failures) - failed_before
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    finished = [(b, e) for b, e in samples if begin <= e < end]
    latencies = [(e - b) * 1000 for b, e in finished if b >= begin]
    per_call = 1000 / max(len(finished), 1)
    return Measurement(calls=len(finished), seconds=end - begin, latencies_ms=latencies, failures=failed,
                       cpu_ms={name: (cpu_after[name] - cpu_before[name]) * per_call for name in cpu_before},
                       machine_ms_per_call=(busy_after - busy_before) * per_call,
                       first_failure=failures[0] if failures else "")


def recipe_caller(url: str, token: str) -> Callable[[], Callable[[int], None]]:
    import requests

    def make():
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"

        def call(item_id: int) -> None:
            response = session.post(url, json={"item_id": item_id}, timeout=60)
            if response.status_code != 200:
                raise RuntimeError(f"{response.status_code} {response.text[:300]}")
            result = response.json().get("result")
            if result != {"id": item_id, "name": f"Item {item_id}"}:
                raise RuntimeError(f"unexpected result {result!r}")

        return call

    return make


def bare_client_caller(app_url: str) -> Callable[[], Callable[[int], None]]:
    import requests

    def make():
        session = requests.Session()

        def call(item_id: int) -> None:
            response = session.get(f"{app_url}/api/items/{item_id}", auth=(APP_USER, APP_PASSWORD), timeout=15)
            if response.status_code != 200 or response.json().get("id") != item_id:
                raise RuntimeError(f"{response.status_code} {response.text[:300]}")

        return call

    return make


def bare_celery_caller(queue: str) -> Callable[[], Callable[[int], None]]:
    from callable_tasks import get_item

    def make():
        def call(item_id: int) -> None:
            result = get_item.apply_async(args=[item_id], queue=queue).get(timeout=60)
            if result.get("id") != item_id:
                raise RuntimeError(f"unexpected result {result!r}")

        return call

    return make


# --- the recipe -----------------------------------------------------------------------------------


def make_recipe(app_url: str) -> tuple[int, str, int]:
    """A started callable recipe: "When called" (item_id) → loopback "Get item" on a Basic-auth connection →
    "Return result" {id, name} from the GET's JSON. Returns (recipe id, a personal API token, user id)."""
    from django.contrib.auth.models import Group

    from accounts import services as account_services
    from accounts.models import User
    from connections import services as connection_services
    from connections.catalog.app_slot import AppSlot
    from recipes import services
    from recipes.builtins import NEW_CALL, RECIPE_FUNCTION, RETURN_RESULT
    from recipes.models import Recipe

    user = User.objects.create_user(email="bench@example.com", password="bench-Splice-123!")
    user.groups.add(Group.objects.get(name="Builder"))
    project = account_services.project_create(name="Benchmark", acting_user=user)
    connection = connection_services.connection_create(
        project=project, connector_key="loopback", name="Bench app", acting_user=user, auth_method="basic",
        settings_values={"base_url": app_url})
    outcome = connection_services.connection_set_credentials(
        connection=connection, acting_user=user, credentials={"username": APP_USER, "password": APP_PASSWORD})
    if not outcome.ok:
        raise SystemExit(f"the connection did not pass its test: {outcome.message}")
    recipe = services.recipe_create(project=project, name="Get an item", kind=Recipe.Kind.CALLABLE, acting_user=user)
    services.recipe_set_call_fields(recipe=recipe, acting_user=user,
                                    fields=[{"name": "item_id", "type": "integer", "required": True}])
    function, loopback = AppSlot(RECIPE_FUNCTION), AppSlot("loopback")
    services.step_add(recipe=recipe, acting_user=user, app=function, operation_key=NEW_CALL)
    get = services.step_add(recipe=recipe, acting_user=user, app=loopback, operation_key="get_item")
    services.step_update_inputs(step=get, acting_user=user, inputs={"id": "{{trigger.item_id}}"})
    back = services.step_add(recipe=recipe, acting_user=user, app=function, operation_key=RETURN_RESULT)
    got = f"step{get.position}"
    services.step_update_inputs(step=back, acting_user=user,
                                inputs={"id": "{{" + got + ".id}}", "name": "{{" + got + ".name}}"})
    recipe.refresh_from_db()
    services.binding_set(recipe=recipe, app=loopback, connection=connection, acting_user=user)
    services.recipe_start(recipe=recipe, acting_user=user)
    _token, plaintext = account_services.api_token_create(user=user, name="Benchmark")
    return recipe.pk, plaintext, user.pk


def explain_failure(failure: str, workdir: Path) -> None:
    """A call that got no result: what its job's row and steps say, and the end of the workers' logs."""
    from recipes.runtime.models import Job

    found = re.search(r'"job": (\d+)', failure)
    job = Job.objects.filter(pk=int(found.group(1))).first() if found else None
    if job is not None:
        print(f"  job {job.pk}: {job.status}, created {job.created_at:%H:%M:%S.%f}, enqueued "
              f"{job.enqueued_at and f'{job.enqueued_at:%H:%M:%S.%f}'}, started "
              f"{job.started_at and f'{job.started_at:%H:%M:%S.%f}'}, finished "
              f"{job.finished_at and f'{job.finished_at:%H:%M:%S.%f}'}; error {job.error!r}")
        for step in job.steps.order_by("position"):
            print(f"    step {step.position} {step.operation_key}: {step.status}, attempts {step.attempts}, "
                  f"{step.duration_ms} ms, error {step.error!r}")
    for log in sorted(workdir.glob("worker-*.log")):
        tail = log.read_text()[-2000:]
        if tail.strip():
            print(f"  {log.name} (tail):\n{tail}")


# --- profiling ------------------------------------------------------------------------------------


def py_spy_path() -> str | None:
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


def py_spy_window(stack: Stack, caller, concurrency: int, seconds: float, profile_dir: Path) -> None:
    """Sample gunicorn and the workers with py-spy while the recipe is called; print where their time goes."""
    spy = py_spy_path()
    spies = []
    if spy:
        for name, pid in [("web", stack.web.pid), *((f"worker{n}", p) for n, p in enumerate(stack.worker_pids))]:
            spies.append((name, profile_dir / f"{name}.txt", subprocess.Popen(
                [spy, "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "250",
                 "--duration", str(int(seconds + 2)), "--output", str(profile_dir / f"{name}.txt"), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
        time.sleep(1)
    else:
        print("py-spy not found (PATH or $BENCH_PY_SPY): no sampling of gunicorn and the workers")
    measured = closed_loop(caller, concurrency, warmup=0.5, seconds=seconds, watch={"web + workers": stack.pids})
    print(f"\npy-spy window: {measured.per_s:.1f} calls/s at concurrency {concurrency} "
          f"(py-spy's sampling slows the processes it watches)")
    for name, path, process in spies:
        try:
            process.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            _stop(process)
        if path.exists():
            print_collapsed(name, path)


# Frames that say which part of a call the time belongs to, checked from the innermost outwards.
PARTS = [
    ("web: wait for the job (BLPOP)", re.compile(r"blpop|job_wait")),
    ("runner: app request (requests/urllib3/socket)", re.compile(r"\((requests|urllib3|http)/|sock_recv|recv_into")),
    ("database (psycopg, Django SQL compiler)", re.compile(r"psycopg|django/db/")),
    ("Celery broker/results (kombu, redis)", re.compile(r"kombu/|redis/|celery/backends")),
    ("runner", re.compile(r"recipes/runtime/runner")),
    ("connection client/auth/egress", re.compile(r"connections/")),
    ("api view and auth", re.compile(r"recipes/api|accounts/api_auth|accounts/")),
    ("Django request/middleware", re.compile(r"django/(core|middleware|contrib|utils|http|template)|whitenoise")),
    ("gunicorn", re.compile(r"gunicorn/")),
    ("Celery worker", re.compile(r"celery/|billiard/")),
]


def print_collapsed(name: str, path: Path) -> None:
    """From py-spy's collapsed stacks: the busy samples by part of the call, and the top functions by own time."""
    by_part, own, busy = Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        if re.search(r"\b(wait|select|poll|epoll|_wait_for_tstate_lock|accept|sleep|blpop|recv)\b", leaf) \
                and not re.search(r"psycopg|urllib3", stack):
            continue  # idle: a thread waiting for work
        samples = int(count)
        busy += samples
        own[leaf] += samples
        for part, pattern in PARTS:
            if any(pattern.search(f) for f in reversed(frames[1:])):
                by_part[part] += samples
                break
        else:
            by_part["other"] += samples
    if not busy:
        print(f"{name}: no busy samples")
        return
    print(f"\n{name}: {busy} samples of threads not idle (250 Hz; wall time: a thread waiting for PostgreSQL or the "
          "app counts, one waiting for work does not)")
    for part, samples in by_part.most_common():
        print(f"  {samples * 100 / busy:5.1f}%  {part}")
    print("  top functions by own time:")
    for leaf, samples in own.most_common(12):
        print(f"  {samples * 100 / busy:5.1f}%  {leaf[:150]}")


def _call_in_process(recipe_id: int, token: str):
    """A call through Django's test client in this process (the real worker runs its job)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")

    def call(item_id: int):
        response = client.post(f"/api/v1/recipes/{recipe_id}/call", data={"item_id": item_id},
                               content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
        if response.status_code != 200:
            raise SystemExit(f"a call in this process got {response.status_code}: {response.content[:300]!r}")
        return response

    return call


def _job_in_process(recipe_id: int, user_id: int):
    """A job made as the view makes it, but not enqueued, run by the runner in this process."""
    from recipes.runtime import runner
    from recipes.runtime.models import Job

    def run(item_id: int) -> Job:
        job = Job.objects.create(recipe_id=recipe_id, trigger_kind=Job.Trigger.CALL, trigger_data={"item_id": item_id},
                                 run_as_id=user_id)
        runner.job_run(job.pk)
        return job

    return run


def statements_of_one_call(recipe_id: int, token: str, user_id: int) -> None:
    """The database statements of one call, web side (the view, waiting on the real worker) and worker side."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as web:
        _call_in_process(recipe_id, token)(7)
    print(f"\nweb side of one call (the view, in this process): {len(web.captured_queries)} statements")
    _print_statements(web.captured_queries)
    run = _job_in_process(recipe_id, user_id)
    run(6)
    with CaptureQueriesContext(connection) as worker:
        job = run(7)
    job.refresh_from_db()
    print(f"worker side of one job (runner.job_run, in this process): {job.status}; "
          f"{len(worker.captured_queries)} statements")
    _print_statements(worker.captured_queries)


def _print_statements(queries: list[dict]) -> None:
    for query in queries:
        sql = re.sub(r"\s+", " ", query["sql"])
        print(f"  {float(query['time']) * 1000:6.2f} ms  {sql[:150]}")


def profile_in_process(recipe_id: int, token: str, user_id: int, calls: int = 200) -> None:
    """CPU profiles, one thread each, of the view (its wait for the worker costs no CPU) and of the runner."""
    import cProfile

    for title, one in [("the view (recipes.api.recipe_call, all middleware)", _call_in_process(recipe_id, token)),
                       ("the runner (runner.job_run)", _job_in_process(recipe_id, user_id))]:
        for n in range(20):
            one(n % ITEMS + 1)
        began = time.process_time()
        for n in range(calls):
            one(n % ITEMS + 1)
        cpu_ms = (time.process_time() - began) * 1000 / calls
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for n in range(calls):
            one(n % ITEMS + 1)
        profiler.disable()
        print(f"\n{title}: {cpu_ms:.2f} ms CPU per call in this process, unprofiled; where it goes (cProfile, "
              "CPU time, scaled to that):")
        print_profile(profiler, calls, cpu_ms)


# What the breakdown lists: Splice's own functions, and where libraries are entered.
_PROFILE_SHOWN = re.compile(r"/(accounts|connections|recipes|config)/|celery/app/base.py.*send_task|"
                            r"kombu/messaging.py.*publish|django/core/handlers/base.py.*get_response|"
                            r"requests/sessions.py.*\bsend\b|django/db/models/sql/compiler.py.*execute_sql|"
                            r"celery/app/trace.py|kombu/transport/redis|kombu/message.py.*ack")


def print_profile(stats_source, calls: int, cpu_ms: float | None = None, top: int = 28) -> None:
    """Cumulative CPU time of the functions _PROFILE_SHOWN picks, as a share of the whole and in ms per call
    (scaled to the unprofiled `cpu_ms` when given: cProfile itself makes every call several times slower)."""
    import pstats

    stats = pstats.Stats(stats_source) if not isinstance(stats_source, list) else pstats.Stats(*stats_source)
    total = max(sum(tt for _cc, _nc, tt, _ct, _callers in stats.stats.values()), 1e-9)
    scale = (cpu_ms / (total * 1000 / calls)) if cpu_ms else 1.0
    rows = []
    for (path, line, name), (_cc, ncalls, _tt, cumulative, _callers) in stats.stats.items():
        label = f"{path.replace(str(ROOT) + '/', '').replace('.venv/lib/python3.13/site-packages/', '')}:{line} {name}"
        if _PROFILE_SHOWN.search(f"{path} {name}"):
            rows.append((cumulative, ncalls, label))
    for cumulative, ncalls, label in sorted(rows, reverse=True)[:top]:
        print(f"  {cumulative * 100 / total:5.1f}%  {cumulative * 1000 / calls * scale:6.2f} ms  "
              f"{ncalls / calls:5.1f}×  {label[:110]}")


def print_worker_cprofile(profile_dir: Path, calls: int, worker_cpu_ms: float) -> None:
    dumps = sorted(str(p) for p in profile_dir.glob("worker-*.prof"))
    if not dumps:
        print("no cProfile dump from the worker")
        return
    print(f"\nthe worker process, whole (--pool solo; cProfile on CPU time, scaled to the {worker_cpu_ms:.2f} ms "
          "per call the workers took in the measurement):")
    print_profile(dumps, calls, worker_cpu_ms)


# --- main -----------------------------------------------------------------------------------------


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    if args.serve:
        serve(args.port_file)
        return 0
    os.chdir(ROOT)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["SPLICE_ALLOWED_HOSTS"] = "127.0.0.1"
    queue = os.environ["SPLICE_JOBS_QUEUE"] = f"splice-bench-{uuid.uuid4().hex[:8]}"  # this process's jobs too
    top = max(args.levels)
    slots = args.worker_threads * (args.worker_processes if args.pool == "threads" else 1)
    # The web threads and the workers each hold a database connection; the client's checks one more.
    database = ThrowawayDatabase(connections_needed=args.web_workers * args.web_threads + slots + 4)
    server = stack = None
    lines, failed = [], False
    profile_dir = database.tmpdir / "profile"
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", interactive=False, verbosity=0)
        server = AppServer(database.tmpdir)
        recipe_id, token, user_id = make_recipe(server.base_url)
        connections.close_all()
        stack = Stack(args, database, server.base_url, queue)
        stack.start()
        workers = (f"{args.worker_processes} × --pool threads --concurrency {args.worker_threads}"
                   if args.pool == "threads" else f"--pool prefork --concurrency {args.worker_threads}")
        print(f"{database.label}; Redis {os.environ['REDIS_URL']}; app {server.base_url}; gunicorn gthread "
              f"{args.web_workers} × {args.web_threads} threads at {stack.base_url}; Celery worker {workers}; "
              f"{os.cpu_count()} CPUs; {args.warmup:g} s warm-up + {args.seconds:g} s per measurement", flush=True)
        recipe = recipe_caller(f"{stack.base_url}/api/v1/recipes/{recipe_id}/call", token)
        for concurrency in args.levels:
            bare_client = bare_celery = None
            if not args.skip_bare:
                bare_client = closed_loop(bare_client_caller(server.base_url), concurrency, warmup=args.warmup,
                                          seconds=args.seconds, watch=None)
                print(f"c={concurrency} bare client: {bare_client.per_s:.0f}/s, p50 {bare_client.percentile(50):.2f} "
                      f"ms; CPU per call: this process {bare_client.cpu_ms_per_call:.2f} ms, the whole machine "
                      f"{bare_client.machine_ms_per_call:.2f} ms ({bare_client.machine_busy:.0%} busy)", flush=True)
                bare_celery = closed_loop(bare_celery_caller(queue), concurrency, warmup=args.warmup,
                                          seconds=args.seconds, watch={"workers": stack.worker_pids})
                print(f"c={concurrency} bare Celery task: {bare_celery.per_s:.0f}/s, p50 "
                      f"{bare_celery.percentile(50):.2f} ms; CPU per call: workers {bare_celery.cpu_ms_per_call:.2f} "
                      f"ms, the whole machine {bare_celery.machine_ms_per_call:.2f} ms ({bare_celery.machine_busy:.0%} "
                      "busy)", flush=True)
            reads_before = server.item_reads()
            calls = closed_loop(recipe, concurrency, warmup=args.warmup, seconds=args.seconds,
                                watch={"web": stack.web_pids, "workers": stack.worker_pids})
            stack.check_alive()
            rss = peak_rss_mb(stack.pids)
            print(f"c={concurrency} recipe: {calls.per_s:.1f} calls/s, p50 {calls.percentile(50):.1f} ms, p99 "
                  f"{calls.percentile(99):.1f} ms; app reads {server.item_reads() - reads_before}\n"
                  f"    CPU per call: web {calls.cpu_ms['web']:.2f} ms + workers {calls.cpu_ms['workers']:.2f} ms = "
                  f"{calls.cpu_ms_per_call:.2f} ms; the whole machine {calls.machine_ms_per_call:.2f} ms "
                  f"({calls.machine_busy:.0%} busy)\n"
                  f"    peak RSS {rss:.0f} MB summed (web {peak_rss_mb(stack.web_pids):.0f}, workers "
                  f"{peak_rss_mb(stack.worker_pids):.0f}); Pss now {pss_mb(stack.pids):.0f} MB", flush=True)
            for measurement, what in [(calls, "recipe calls"), (bare_client, "bare client"),
                                      (bare_celery, "bare Celery")]:
                if measurement is not None and measurement.failures:
                    failed = True
                    print(f"  {measurement.failures} {what} failed, the first: {measurement.first_failure}")
                    explain_failure(measurement.first_failure, database.tmpdir)
            nan = float("nan")
            client_per_s = bare_client.per_s if bare_client else nan
            celery_per_s = bare_celery.per_s if bare_celery else nan
            lines.append(
                f"concurrency={concurrency} calls_per_s={calls.per_s:.1f} bare_client_per_s={client_per_s:.1f} "
                f"bare_celery_per_s={celery_per_s:.1f} ratio_client={calls.per_s / client_per_s:.3f} "
                f"ratio_celery={calls.per_s / celery_per_s:.3f} p50_ms={calls.percentile(50):.1f} "
                f"p99_ms={calls.percentile(99):.1f} cpu_ms_per_call={calls.cpu_ms_per_call:.2f} peak_rss_mb={rss:.0f}")
        if args.profile:
            profile_dir.mkdir()
            py_spy_window(stack, recipe, top, args.seconds, profile_dir)
            statements_of_one_call(recipe_id, token, user_id)
            profile_in_process(recipe_id, token, user_id)
            stack.stop()
            # cProfile slows every Python call: workers of their own, after the measurements.
            stack = Stack(args, database, server.base_url, queue, profile_dir)
            stack.start()
            recipe = recipe_caller(f"{stack.base_url}/api/v1/recipes/{recipe_id}/call", token)
            profiled = closed_loop(recipe, top, warmup=0, seconds=args.seconds, watch=None)
            print(f"\ncProfile window (all of it, from the workers' start): {profiled.per_s:.1f} calls/s at "
                  f"concurrency {top}")
            stack.stop()
            print_worker_cprofile(profile_dir, profiled.calls, calls.cpu_ms["workers"])
    finally:
        if stack is not None:
            stack.stop()
        if server is not None:
            server.stop()
        database.drop()
    for line in lines:
        print(line)
    return 1 if failed or not lines else 0


if __name__ == "__main__":
    sys.exit(main())
