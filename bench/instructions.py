"""python -m bench.instructions: the machine instructions one request of a benchmark case costs the app.

Wall and CPU times move by a tenth or more between identical runs on a shared machine; the count of
instructions that a request makes the Python process execute does not. This runs the app in-process (its
WSGI callable called in a loop: no gunicorn, no socket, no access line), under valgrind's callgrind,
twice: after the same warm-up, once for FEW requests and once for MANY, and prints the difference per
request. It counts the app's side only (Python, psycopg2 and libpq in this process, not PostgreSQL's),
and an instruction is not a fixed time (code with more branches and cache misses runs slower for the same
count), so it compares two builds of the same app well, and two different apps only roughly.

    apt-get install valgrind   # not a dependency of Phoenix
    .venv/bin/python -m bench.instructions item|list|create [--app bench.limit:app]

It uses the database of python -m bench.profile (BENCH_ROWS, default 1,000 rows), made if missing.
"""

import argparse
import importlib
import io
import os
import re
import shutil
import subprocess
import sys

from bench import database

FEW, MANY, WARM_UP = 100, 300, 100
CASES = ("item", "list", "create")
BODY = (
    b'{"timestamp": 1731234567.891, "value1": "greenhouse temperature ok", "value2": 21.437, "value3": true}'
)


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=CASES)
    parser.add_argument("--app", default="wsgi:app", help="the WSGI app (module:name), e.g. bench.limit:app")
    parser.add_argument("--requests", type=int, help=argparse.SUPPRESS)  # the run under valgrind
    return parser.parse_args(argv)


def environs(case, rows, key):
    """The WSGI environs of the case's requests, in a fixed order (the same run after run)."""
    from werkzeug.test import EnvironBuilder

    if case == "item":
        return [EnvironBuilder(path=f"/api/records/{1 + n * 7919 % rows}").get_environ() for n in range(200)]
    if case == "list":
        return [EnvironBuilder(path="/api/records", query_string="limit=50").get_environ()]
    headers = {"api-key": key}
    return [EnvironBuilder(path="/api/records", method="POST", data=BODY, headers=headers,
                           content_type="application/json").get_environ()]  # fmt: skip


def serve(args):
    """Under valgrind: load the app, warm it up, then make args.requests requests."""
    import logging

    module, _, name = args.app.partition(":")
    app = getattr(importlib.import_module(module), name)
    logging.disable(logging.CRITICAL)  # the app's log lines are not the request's work being counted
    requests = environs(args.case, int(os.environ["BENCH_ROWS_SEEDED"]), os.environ.get("BENCH_API_KEY"))

    def call(n):
        environ = dict(requests[n % len(requests)])
        environ["wsgi.input"] = io.BytesIO(BODY if args.case == "create" else b"")
        status = []
        body = app(environ, lambda line, headers, exc_info=None: status.append(line))
        b"".join(body)
        body.close()
        if not status[0].startswith(("200", "201")):
            raise SystemExit(f"{args.app} answered {status[0]} to a {args.case} request")

    for n in range(WARM_UP + args.requests):
        call(n)


def counted(args, requests, env):
    """The instructions that callgrind counted in a run of requests requests."""
    command = [
        shutil.which("valgrind"), "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
        "-m", "bench.instructions", args.case, "--app", args.app, "--requests", str(requests),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    found = re.search(r"Collected : (\d+)", completed.stderr)
    if found is None:
        raise SystemExit(f"callgrind counted nothing:\n{completed.stderr[-2000:]}")
    return int(found[1])


def new_key(url):
    """An API key for the creates, made by Phoenix in-process."""
    from phoenix import create_app

    client = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False}).test_client()
    return client.post("/api/keys", json={"username": f"count-{os.urandom(4).hex()}"}).json["api_key"]


def main(argv=None):
    args = options(argv)
    if args.requests is not None:
        return serve(args)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    rows = int(os.environ.get("BENCH_ROWS") or 1000)
    url = database.sized(database.bench_url(), rows)
    if not database.reusable(url, rows):
        database.recreate(url)
        database.grow_to(url, rows)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PHOENIX_RATELIMIT_ENABLED": "0",
        "PYTHONHASHSEED": "0",  # the same string hashes, so the same dict and set work, run after run
        "BENCH_ROWS_SEEDED": str(rows),
        "BENCH_API_KEY": new_key(url) if args.case == "create" else "",
    }
    few, many = counted(args, FEW, env), counted(args, MANY, env)
    print(f"{args.app} {args.case}: {(many - few) / (MANY - FEW):,.0f} instructions a request")


if __name__ == "__main__":
    main()
