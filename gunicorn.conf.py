"""gunicorn settings: workers from WEB_CONCURRENCY or the CPU count, bind from PORT."""

import multiprocessing
import os

port = os.environ.get("PORT")
bind = f"0.0.0.0:{port}" if port else "127.0.0.1:5000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Log to stderr, where gunicorn's platform (Heroku, systemd, a terminal) collects it.
accesslog = "-"
errorlog = "-"
# Requests are short; a worker stuck this long is restarted rather than left to hang.
timeout = 30

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
