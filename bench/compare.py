"""Two revisions of Phoenix side by side, on the same database, the same packages and the same load.

Run from the repository root:

    .venv/bin/python -m bench.compare REV_A REV_B [--seconds 6] [--rounds 5] [--rows 10000]

It checks out each revision in a detached worktree (/tmp/phoenix-compare/<rev>, removed at the end), makes
one PostgreSQL database (phoenix_compare_bench: migrated by REV_A's `flask db upgrade`, seeded by its
`flask seed`; the revisions must have the same migrations), serves each revision with its own
gunicorn.conf.py from this virtualenv, and drives each case with wrk on A and B in turn, round after round,
the other one first each round. For every run it records req/s, p50 and p99, and the CPU time per request
of that server's workers (utime + stime from /proc, before and after the run) and of its PostgreSQL
backends (told apart by PGAPPNAME). On a shared machine CPU per request is far steadier than req/s, which
moves with whatever else runs. The table (medians, B/A, and the min-max of B/A over the rounds, so that
noise shows) is printed and written to bench/results/<timestamp>-compare.md.

Settings: BENCH_DATABASE_SERVER (default postgresql://postgres@127.0.0.1:5432, trust auth).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench import wrk
from bench.servers import ROOT, VENV_BIN, Gunicorn

WORKTREES = Path("/tmp/phoenix-compare")
RESULTS = ROOT / "bench" / "results"
DATABASE = "phoenix_compare_bench"
SERVER_URL = os.environ.get("BENCH_DATABASE_SERVER", "postgresql://postgres@127.0.0.1:5432")
DATABASE_URL = f"{SERVER_URL}/{DATABASE}"
CONNECTIONS, THREADS, WORKERS = 8, 2, 2
WARM_UP_SECONDS = 2
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Case:
    """One request shape: a wrk script, its environment, and the status a good answer has."""

    name: str
    script: str
    env: dict
    probe: tuple  # (method, path, body or None, expected status) for a check before measuring
    needs_key: bool = False


def cases(rows):
    """The three cases, for a database of rows records."""
    record = {"timestamp": 1731234567.891, "value1": "probe", "value2": 1.5, "value3": True}
    return [
        Case("GET /api/records/<random id>", "random_record.lua", {"BENCH_MAX_ID": str(rows)},
             ("GET", "/api/records/1", None, 200)),
        Case("GET /api/records?limit=50", "path.lua", {"BENCH_PATH": "/api/records?limit=50"},
             ("GET", "/api/records?limit=50", None, 200)),
        Case("POST /api/records (api-key)", "post_record.lua", {},
             ("POST", "/api/records", record, 201), needs_key=True),
    ]  # fmt: skip


# --- revisions and their worktrees ---------------------------------------------------------------------


def git(*args, capture=True):
    """A git command in the main repository; its stdout."""
    done = subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=capture, text=True)
    return done.stdout.strip() if capture else ""


def require_same_migrations(rev_a, rev_b):
    """Stop unless both revisions have the same migrations: the one database must suit both."""
    same = subprocess.run(["git", "diff", "--quiet", rev_a, rev_b, "--", "migrations"], cwd=ROOT)
    if same.returncode != 0:
        raise SystemExit(
            f"The migrations differ between {rev_a} and {rev_b} (git diff {rev_a} {rev_b} -- migrations): "
            "one shared database cannot serve both; compare revisions with the same schema."
        )


@contextmanager
def worktree(rev):
    """A detached checkout of rev under WORKTREES, removed on the way out."""
    path = WORKTREES / re.sub(r"[^A-Za-z0-9._-]", "_", rev)
    if path.exists():  # left over from an interrupted run
        git("worktree", "remove", "--force", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    git("worktree", "add", "--detach", "--quiet", str(path), rev)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


# --- the shared database -------------------------------------------------------------------------------


def engine_on(database):
    """An autocommit engine on a database of the server, by psycopg2 (the driver Phoenix ships)."""
    url = make_url(f"{SERVER_URL}/{database}").set(drivername="postgresql+psycopg2")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT")


def drop_database():
    engine = engine_on("postgres")  # the maintenance database
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
    engine.dispose()


def create_database(root, rows):
    """DATABASE made afresh, migrated and seeded by the code in the worktree root."""
    drop_database()
    engine = engine_on("postgres")  # the maintenance database
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{DATABASE}"'))
    engine.dispose()
    flask(root, "db", "upgrade")
    for table in ("records", "games"):
        flask(root, "seed", table, str(rows), "--seed", "1")


def flask(root, *args):
    """A flask command of the code in root, on DATABASE."""
    env = {**os.environ, "DATABASE_URL": DATABASE_URL, "PYTHONPATH": str(root)}
    subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args], cwd=root, env=env, check=True)


def backend_pids(connection, application_name):
    """The PostgreSQL backends that a server's workers hold open (they connect as application_name)."""
    query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
    return [row.pid for row in connection.execute(query, {"name": application_name})]


# --- the servers ---------------------------------------------------------------------------------------


class WorktreeGunicorn(Gunicorn):
    """bench.servers.Gunicorn serving the code (and gunicorn.conf.py) of another checkout, root."""

    def __init__(self, root, label, log_path):
        env = {
            "WEB_CONCURRENCY": str(WORKERS),
            "PHOENIX_CONFIG": "production",
            "PHOENIX_RATELIMIT_ENABLED": "0",
            "DATABASE_URL": DATABASE_URL,
            "PGAPPNAME": f"phoenix-compare-{label}",  # libpq's application_name: this server's backends
        }
        super().__init__("wsgi:app", env=env, log_path=log_path, root=root)
        self.label = label


def request(server, method, path, body=None, headers=None):
    """(status, parsed JSON body) of one request to server."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", **(headers or {})}
    call = urllib.request.Request(server.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def new_key(server):
    """An API key from server's POST /api/keys (the key is in "api_key")."""
    username = f"compare-{server.label}-{uuid.uuid4().hex[:8]}"
    status, body = request(server, "POST", "/api/keys", {"username": username})
    if status != 201 or "api_key" not in body:
        raise SystemExit(f"{server.label}: POST /api/keys answered {status}: {body}")
    return body["api_key"]


def check(server, case, key):
    """Stop unless server answers case's probe as expected: a benchmark of errors would measure nothing."""
    method, path, body, expected = case.probe
    status, answer = request(server, method, path, body, {"api-key": key} if case.needs_key else None)
    if status != expected:
        raise SystemExit(f"{server.label}: {method} {path} answered {status}, not {expected}: {answer}")


# --- measuring -----------------------------------------------------------------------------------------


def cpu_seconds(pids):
    """{pid: utime + stime in seconds} from /proc/<pid>/stat, for those of pids still alive."""
    times = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        times[pid] = (int(fields[11]) + int(fields[12])) / TICKS_PER_SECOND  # fields 14 and 15 of stat
    return times


def used(before, after):
    """CPU seconds used between two cpu_seconds readings (a process that appeared counts from zero)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Run:
    """One wrk run on one server, with the CPU its workers and its PostgreSQL backends used."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    app_cpu_ms: float  # per request
    db_cpu_ms: float  # per request


def one_run(server, case, env, seconds, connection):
    """Drive server with case for seconds; a Run."""
    workers = server.worker_pids()
    backends = backend_pids(connection, server.env["PGAPPNAME"])
    app_before, db_before = cpu_seconds(workers), cpu_seconds(backends)
    result = wrk.run(server.url, case.script, seconds, CONNECTIONS, THREADS, env)
    backends = set(backends) | set(backend_pids(connection, server.env["PGAPPNAME"]))
    app_after, db_after = cpu_seconds(workers), cpu_seconds(backends)
    if set(server.worker_pids()) != set(workers):
        print(f"  warning: {server.label}'s workers changed during the run; its CPU is undercounted")
    per_request = 1000.0 / max(result.requests, 1)
    return Run(
        rps=result.requests_per_second,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        requests=result.requests,
        errors=result.errors,
        app_cpu_ms=used(app_before, app_after) * per_request,
        db_cpu_ms=used(db_before, db_after) * per_request,
    )


def measure(case, servers, keys, seconds, rounds, connection):
    """{label: [Run per round]}: the servers in turn, the other one first each round, after a warm-up."""
    envs = {s.label: {**os.environ, **case.env, "BENCH_API_KEY": keys[s.label]} for s in servers}
    for server in servers:
        wrk.run(server.url, case.script, WARM_UP_SECONDS, CONNECTIONS, THREADS, envs[server.label])
    runs = {server.label: [] for server in servers}
    for round_number in range(rounds):
        order = servers if round_number % 2 == 0 else servers[::-1]
        for server in order:
            run = one_run(server, case, envs[server.label], seconds, connection)
            runs[server.label].append(run)
            print(
                f"  round {round_number + 1} {server.label:>10}  {run.rps:7.0f} req/s  p50 {run.p50_ms:6.2f} ms"
                f"  p99 {run.p99_ms:6.2f} ms  app CPU {run.app_cpu_ms:5.2f} ms/req"
                f"  db CPU {run.db_cpu_ms:5.2f} ms/req  errors {run.errors}",
                flush=True,
            )
    return runs


# --- the report ----------------------------------------------------------------------------------------


def median(runs, field):
    return statistics.median(getattr(run, field) for run in runs)


def ratio_spread(runs_a, runs_b, field):
    """The min and max over the rounds of B/A for field (round i of B against round i of A)."""
    ratios = [getattr(b, field) / getattr(a, field) for a, b in zip(runs_a, runs_b, strict=True)]
    return min(ratios), max(ratios)


def row(case_name, runs_a, runs_b):
    """One line of the table: medians of A and B, B/A of the medians, and the spread of B/A by round."""
    cells = [case_name]
    for field, form in (("rps", "{:.0f}"), ("app_cpu_ms", "{:.2f}"), ("db_cpu_ms", "{:.2f}")):
        a, b = median(runs_a, field), median(runs_b, field)
        low, high = ratio_spread(runs_a, runs_b, field)
        cells += [form.format(a), form.format(b), f"{b / a:.3f}", f"{low:.2f}..{high:.2f}"]
    for field in ("p50_ms", "p99_ms"):
        cells.append(f"{median(runs_a, field):.2f} / {median(runs_b, field):.2f}")
    cells.append(f"{sum(r.errors for r in runs_a)} / {sum(r.errors for r in runs_b)}")
    return "| " + " | ".join(cells) + " |"


def table(results, label_a, label_b):
    """The markdown table of every case."""
    header = [
        "case", "req/s A", "req/s B", "B/A", "B/A range",
        "app CPU ms/req A", "app CPU ms/req B", "B/A", "B/A range",
        "db CPU ms/req A", "db CPU ms/req B", "B/A", "B/A range",
        "p50 ms A / B", "p99 ms A / B", "errors A / B",
    ]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [row(name, runs[label_a], runs[label_b]) for name, runs in results.items()]
    return "\n".join(lines)


def report(args, revisions, results, load_before):
    """The whole markdown report: what was compared, how, and the table."""
    (label_a, sha_a), (label_b, sha_b) = revisions
    load_after = os.getloadavg()
    return "\n".join([
        f"# {label_a} (A) vs {label_b} (B)",
        "",
        f"- A = {label_a} = {sha_a}; B = {label_b} = {sha_b}",
        f"- `python -m bench.compare {' '.join(sys.argv[1:])}`",
        f"- wrk -t{THREADS} -c{CONNECTIONS}, {args.seconds} s a run, {args.rounds} rounds (A and B in turn,"
        f" the other first each round), {WORKERS} sync workers each, {args.rows:,} records and games",
        f"- {os.cpu_count()} cores; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after",
        "- app CPU: utime+stime of the gunicorn workers; db CPU: of their PostgreSQL backends; per request."
        " B/A range: min..max over the rounds of round-i B / round-i A.",
        "",
        table(results, label_a, label_b),
        "",
    ])  # fmt: skip


def write_report(text):
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-compare.md"
    path.write_text(text)
    return path


# --- main ----------------------------------------------------------------------------------------------


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__.split("\n")[0])
    parser.add_argument("rev_a", metavar="REV_A", help="the baseline revision (its migrations and seed run)")
    parser.add_argument("rev_b", metavar="REV_B", help="the revision compared with it")
    parser.add_argument("--seconds", type=int, default=6, help="length of each wrk run (default 6)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each case on each server (default 5)")
    parser.add_argument("--rows", type=int, default=10_000, help="records and games seeded (default 10000)")
    return parser.parse_args(argv)


def main(argv=None):
    args = options(argv)
    wrk.require_wrk()
    revisions = [(rev, git("rev-parse", "--short", f"{rev}^{{commit}}")) for rev in (args.rev_a, args.rev_b)]
    require_same_migrations(args.rev_a, args.rev_b)
    load_before = os.getloadavg()
    with ExitStack() as stack:
        roots = [stack.enter_context(worktree(rev)) for rev in (args.rev_a, args.rev_b)]
        stack.callback(drop_database)
        create_database(roots[0], args.rows)
        servers = [
            stack.enter_context(WorktreeGunicorn(root, label, WORKTREES / f"{label}.log"))
            for root, (label, _) in zip(roots, revisions, strict=True)
        ]
        engine = engine_on(DATABASE)
        stack.callback(engine.dispose)
        connection = stack.enter_context(engine.connect())
        keys = {server.label: new_key(server) for server in servers}
        results = {}
        for case in cases(args.rows):
            for server in servers:
                check(server, case, keys[server.label])
            print(f"{case.name}:", flush=True)
            results[case.name] = measure(case, servers, keys, args.seconds, args.rounds, connection)
    text = report(args, revisions, results, load_before)
    print("\n" + text)
    print(f"Written to {write_report(text).relative_to(ROOT)}")
    shutil.rmtree(WORKTREES, ignore_errors=True)  # the servers' logs


if __name__ == "__main__":
    main()
