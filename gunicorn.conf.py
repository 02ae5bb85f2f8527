"""gunicorn settings: workers from WEB_CONCURRENCY or the CPU count, bind from PORT."""

import multiprocessing
import os

port = os.environ.get("PORT")
bind = f"0.0.0.0:{port}" if port else "127.0.0.1:5000"
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
# Log to stderr, where gunicorn's platform (Heroku, systemd, a terminal) collects it.
accesslog = "-"
errorlog = "-"
# Requests are short; a worker stuck this long is restarted rather than left to hang. Above the changes
# feed's longest wait (30 s, phoenix/resources/changes.py), which a sync worker spends in the request.
timeout = 40
