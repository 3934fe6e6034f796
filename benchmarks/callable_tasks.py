"""The bare Celery task of benchmarks/callable_throughput.py, and its optional profiler.

`bench.get_item` makes the GET the callable recipe's step makes (Basic auth, a kept-alive session per worker
thread) and returns the app's JSON through the result backend, and does nothing else: no job rows, no masking,
no connection read. The worker loads this module with `--include callable_tasks` (the benchmarks folder on
PYTHONPATH); the app's address and its test credentials come from the worker's environment (BENCH_APP_URL,
BENCH_APP_USER, BENCH_APP_PASSWORD), never from a task's arguments.

With BENCH_PROFILE_DIR set, the worker process is profiled with cProfile on CPU time from the moment it is ready,
and the stats are dumped there as `worker-<pid>.prof` when it shuts down. Run it with `--pool solo`: cProfile
(built on sys.monitoring since Python 3.12) sees every thread, and cannot keep their calls apart.
"""

from __future__ import annotations

import cProfile
import os
import threading
import time

import requests
from celery import shared_task

__all__ = ["get_item"]

_local = threading.local()


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


@shared_task(name="bench.get_item")
def get_item(item_id: int) -> dict:
    response = _session().get(f"{os.environ['BENCH_APP_URL']}/api/items/{item_id}", timeout=15,
                              auth=(os.environ["BENCH_APP_USER"], os.environ["BENCH_APP_PASSWORD"]))
    response.raise_for_status()
    return response.json()


_PROFILE_DIR = os.environ.get("BENCH_PROFILE_DIR")

if _PROFILE_DIR:
    from celery.signals import worker_ready, worker_shutdown

    _profiler = cProfile.Profile(time.process_time)

    @worker_ready.connect(weak=False)
    def _profile_start(**_):
        _profiler.enable()

    @worker_shutdown.connect(weak=False)
    def _profile_dump(**_):
        _profiler.disable()
        _profiler.dump_stats(os.path.join(_PROFILE_DIR, f"worker-{os.getpid()}.prof"))
