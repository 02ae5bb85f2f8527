"""gunicorn settings: the worker Phoenix runs under, workers from WEB_CONCURRENCY or the CPU count, bind from
PORT, and the deadlines that keep slow clients, long polls and restarts from hurting anyone.

Why these (measured: README, "Serving"): see phoenix/server.py for the worker.
"""

import multiprocessing
import os

port = os.environ.get("PORT")
bind = f"0.0.0.0:{port}" if port else "127.0.0.1:5000"
# gevent (phoenix.server.PhoenixWorker): every connection is a greenlet, so slow clients, keep-alive and
# the changes feed's long polls cost memory, not workers. One worker per core: more only contend.
worker_class = "phoenix.server.PhoenixWorker"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count())
# Connections one worker holds at once (slow clients, kept-alive and long polls included); each worker's
# database pool (PHOENIX_DB_POOL_SIZE + PHOENIX_DB_MAX_OVERFLOW) is shared among them.
worker_connections = 1000
# HTTP/1.1 keep-alive: an idle connection is kept this long for its next request.
keepalive = 5
# Log to stderr, where gunicorn's platform (Heroku, systemd, a terminal) collects it.
accesslog = "-"
errorlog = "-"
# A worker whose event loop is blocked this long (no greenlet yields) is restarted rather than left to hang.
timeout = 40  # above the changes feed's longest wait (30 s), should a sync worker ever serve it
# SIGTERM and SIGHUP: a worker stops taking connections and finishes what it holds for up to this long:
# the longest request is a changes-feed wait (30 s) plus one statement (PHOENIX_DB_STATEMENT_TIMEOUT_MS).
graceful_timeout = 40

# --- metrics and logs (phoenix/metrics.py, phoenix/logs.py) ---
# Every worker writes its metrics to files in this folder, and /metrics sums them. It must be set before
# a worker imports prometheus_client; one of its own per master unless the operator names one.
import shutil  # noqa: E402
import tempfile  # noqa: E402

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="phoenix-metrics-")
    os.environ["PHOENIX_OWN_METRICS_DIR"] = "1"  # made here: removed on exit
# Made now, not only in on_starting: the logger class below imports Phoenix (and its metrics) first.
os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


# Error and access lines in LOG_FORMAT (JSON in production), with the request's id, route and key prefix.
logger_class = "phoenix.logs.GunicornLogger"


def on_starting(server):
    """Start the instance's counts from zero: empty the metrics folder (left over by a previous run)."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    for name in os.listdir(folder):
        if name.endswith(".db"):
            os.remove(os.path.join(folder, name))


def child_exit(server, worker):
    """A worker is gone: its live gauges (connections in use) stop counting; its counters stay summed."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder that this master made for itself."""
    if os.environ.get("PHOENIX_OWN_METRICS_DIR"):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
