"""The benchmark: Phoenix against the limit of its own work and against bare Flask, on PostgreSQL, by wrk.

Three apps under the same gunicorn settings (gunicorn.conf.py, so whatever worker class it chooses):
Phoenix, the limit app (bench/limit.py: Phoenix's SQL for each case by raw psycopg2 in plain Flask views)
and bare Flask (bench/bare.py: no database at all). It makes one database per size (1,000 and 1,000,000
rows in each table), serves each with its own Phoenix, and measures two kinds of case:

- the yardstick cases (an item, a list page, an authenticated create, a changes-feed page): Phoenix, the
  limit app and bare Flask at the largest size; the table gives Phoenix/limit and Phoenix/bare;
- the search cases (name on games, q on records, for words planted at four frequencies by
  bench/database.py, with the default sort and a sort on another field): Phoenix at every size, whose
  p50 must not grow with the table, and whose p99 must stay under 50 ms; beside it, for the words that
  a window of rows finds, the limit app's floor of the same page at every size (bench/limit.py: the
  window statement alone), whose growth is the part that the database's reading alone would show.

The contenders of a case take turns, round after round (alternating, so that a noisy neighbour weighs on
all alike); medians are reported, with the peak resident memory of Phoenix's workers.

Settings (environment): BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/phoenix_bench,
dropped and made again), BENCH_SECONDS (8 per yardstick run; a search run takes a third), BENCH_ROUNDS (3),
BENCH_CONNECTIONS (16), BENCH_THREADS (2), BENCH_SEARCH_CONNECTIONS (one per worker: the searches'
latency without a queue in front), BENCH_SIZES (1000,1000000), WEB_CONCURRENCY (workers of
each app; default one per CPU core: with wrk and PostgreSQL on the same cores, more workers only contend).
`--quick` (make bench BENCH_ARGS=--quick) measures 1,000 and 100,000 rows, 3 s runs, 2 rounds.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import database, wrk
from bench.servers import Gunicorn

RESULTS = Path(__file__).resolve().parent / "results"
QUICK = {"BENCH_SIZES": "1000,100000", "BENCH_SECONDS": "3", "BENCH_ROUNDS": "2"}
SEARCH_P99_MS = 50.0
SEARCH_GROWTH = 1.5
RSS_MB = 100.0


@dataclass(frozen=True)
class Case:
    """One thing to measure: a wrk script (path.lua GETs path), and for a yardstick case its goal, the
    least share of the limit app's req/s that Phoenix must reach."""

    name: str
    script: str = "path.lua"
    path: str = ""
    goal: float = 0.0
    floor: bool = False  # a search case that the limit app's floor is measured beside, at every size


YARDSTICK = [
    Case("GET /api/records/<id>", "random_record.lua", goal=0.85),
    Case("GET /api/records?limit=50", path="/api/records?limit=50", goal=0.85),
    Case("POST /api/records (key)", "post_record.lua", goal=0.8),
    # Measured only where Phoenix has the route (the changes feed); the limit app's page is a raw
    # keyset select of history ordered by id.
    Case("GET /api/changes?limit=100", path="/api/changes?limit=100", goal=0.85),
]


# The changes feed followed page after page (each wrk thread asks for the page after its last
# next_cursor): measured at each size like the searches, for its flat cost (issue 11).
FOLLOW_FEED = Case("GET /api/changes?limit=100 (following next_cursor)", "follow_changes.lua")


def search_cases():
    """A search for each planted word (bench.database.SEARCH_WORDS), on each collection, in two orders."""
    cases = []
    for collection, parameter, other_sort in (("games", "name", "-year"), ("records", "q", "-timestamp")):
        for word in database.SEARCH_WORDS:
            for sort in ("", f"&sort={other_sort}"):
                path = f"/api/{collection}?{parameter}={word}&limit=50{sort}"
                cases.append(Case(f"GET {path}", path=path, floor=word not in database.RARE_WORDS))
    return cases


def setting(name, default):
    return type(default)(os.environ.get(name) or default)


class PeakMemory(threading.Thread):
    """Samples the servers' workers' RSS every half second; keeps the peak of any one worker."""

    def __init__(self, servers):
        super().__init__(daemon=True)
        self.servers, self.peak, self.running = servers, 0.0, True

    def run(self):
        while self.running:
            for server in self.servers:
                self.peak = max([self.peak, *server.worker_rss_mb()])
            time.sleep(0.5)

    def stop(self):
        self.running = False
        self.join()


def new_key(server):
    """An API key for the benchmark's writes, from POST /api/keys."""
    request = urllib.request.Request(
        server.url + "/api/keys",
        # A name of its own: a database kept from an earlier run (BENCH_KEEP_DATABASE) has its "bench".
        data=json.dumps({"username": f"bench-{uuid.uuid4().hex[:8]}"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["api_key"]


def answers(server, path):
    """Whether server answers GET path with a success (a route this build may not have yet)."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def measure(case, contenders, seconds, rounds, connections, threads):
    """Runs of case on each contender ({label: (server, env)}) in turn, round after round, starting one
    further each round; the medians of each."""
    labels = list(contenders)
    runs = {label: [] for label in labels}
    for round_number in range(rounds):
        shift = round_number % len(labels)
        for label in labels[shift:] + labels[:shift]:
            server, env = contenders[label]
            result = wrk.run(
                server.url, case.script, seconds, connections, threads, {**env, "BENCH_PATH": case.path}
            )
            runs[label].append(result)
            print(
                f"  {case.name:58} {label:18} {result.requests_per_second:7.0f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                flush=True,
            )
    return {"case": case.name, **{label: summarize(results) for label, results in runs.items()}}


def summarize(results):
    """Medians of some wrk runs, and the runs themselves."""
    return {
        "rps": statistics.median(r.requests_per_second for r in results),
        "p50_ms": statistics.median(r.p50_ms for r in results),
        "p99_ms": statistics.median(r.p99_ms for r in results),
        "errors": sum(r.errors for r in results),
        "runs": [r.as_dict() for r in results],
    }


def machine():
    """What the numbers were measured on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        memory_kb = 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_before": round(load, 2),
    }


@dataclass(frozen=True)
class Target:
    """A goal of the issue: a number from the results, at most or at least a bound."""

    label: str
    bound: float
    at_least: bool

    def met(self, value):
        return value >= self.bound if self.at_least else value <= self.bound


def targets(yardstick, searches, sizes, rss_after):
    """Each target of the issue, with the value measured."""
    small, large = f"phoenix {min(sizes):,}", f"phoenix {max(sizes):,}"
    checks = []
    for result in yardstick:
        goal = next(case.goal for case in YARDSTICK if case.name == result["case"])
        ratio = result[large]["rps"] / result["limit"]["rps"]
        checks.append((Target(f"{result['case']}: Phoenix / limit req/s", goal, True), ratio))
    for result in searches:
        growth = result[large]["p50_ms"] / result[small]["p50_ms"]
        checks.append(
            (
                Target(f"{result['case']}: p50 {max(sizes):,} / {min(sizes):,} rows", SEARCH_GROWTH, False),
                growth,
            )
        )
        checks.append(
            (
                Target(f"{result['case']}: p99 ms at {max(sizes):,} rows", SEARCH_P99_MS, False),
                result[large]["p99_ms"],
            )
        )
    checks.append((Target("Phoenix worker RSS after the run, MB", RSS_MB, False), rss_after))
    return checks


def report(yardstick, searches, sizes, checks, peak, rss_after, about, settings):
    """The results as Markdown tables (for the README)."""
    small, large = f"phoenix {min(sizes):,}", f"phoenix {max(sizes):,}"
    lines = [
        f"Measured {about['date']} on {about['cpu']} ({about['cores']} cores, {about['memory_gb']} GB), "
        f"{about['system']}, Python {about['python']}, PostgreSQL on the same machine; load average "
        f"{about['load_before']} before the run. wrk: {settings}.",
        "",
        f"At {max(sizes):,} rows in each table:",
        "",
        "| case | Phoenix req/s | p50 ms | p99 ms | limit req/s | p50 ms | bare req/s | Phoenix / limit | Phoenix / bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in yardstick:
        p, lim, bare = r[large], r["limit"], r["bare Flask"]
        lines.append(
            f"| {r['case']} | {p['rps']:,.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} | {lim['rps']:,.0f} "
            f"| {lim['p50_ms']:.2f} | {bare['rps']:,.0f} | {p['rps'] / lim['rps']:.2f} | {p['rps'] / bare['rps']:.2f} |"
        )
    lines += [
        "",
        f"| search | p50 ms at {min(sizes):,} | p50 ms at {max(sizes):,} | growth | p99 ms at {max(sizes):,} "
        f"| req/s at {max(sizes):,} | floor's p50 ms at {min(sizes):,} | at {max(sizes):,} | floor's growth |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in searches:
        s, g = r[small], r[large]
        floor = floor_growth(r, sizes)
        floors = (
            "| — | — | — |"
            if floor is None
            else f"| {r[f'limit {min(sizes):,}']['p50_ms']:.2f} | {r[f'limit {max(sizes):,}']['p50_ms']:.2f} "
            f"| {floor:.2f} |"
        )
        lines.append(
            f"| {r['case']} | {s['p50_ms']:.2f} | {g['p50_ms']:.2f} | {g['p50_ms'] / s['p50_ms']:.2f} "
            f"| {g['p99_ms']:.2f} | {g['rps']:,.0f} {floors}"
        )
    lines += ["", f"Peak Phoenix worker RSS: {peak:.1f} MB; after the run: {rss_after:.1f} MB.", ""]
    missed = [(target, value) for target, value in checks if not target.met(value)]
    lines.append(f"{len(checks) - len(missed)} of {len(checks)} targets met.")
    if missed:
        lines += ["", "| missed target | goal | measured | the limit app's floor |", "|---|---:|---:|---:|"]
        floors = {
            f"{r['case']}: p50 {max(sizes):,} / {min(sizes):,} rows": floor_growth(r, sizes) for r in searches
        }
        for target, value in missed:
            floor = floors.get(target.label)
            lines.append(
                f"| {target.label} | {'>=' if target.at_least else '<='} {target.bound:g} | {value:.2f} "
                f"| {'—' if floor is None else f'{floor:.2f}'} |"
            )
    return "\n".join(lines)


def floor_growth(result, sizes):
    """The growth of the limit app's floor of a search case (p50 at the largest size over p50 at the
    smallest), or None where it was not measured."""
    small, large = f"limit {min(sizes):,}", f"limit {max(sizes):,}"
    if small not in result or large not in result:
        return None
    return result[large]["p50_ms"] / result[small]["p50_ms"]


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 100,000 rows, 3 s runs, 2 rounds")
    parser.add_argument("--only", choices=["yardstick", "search"], help="measure one kind of case only")
    return parser.parse_args(argv)


def main(argv=None):
    args = options(argv)
    if args.quick:
        for name, value in QUICK.items():
            os.environ.setdefault(name, value)
    url = database.bench_url()
    seconds, rounds = setting("BENCH_SECONDS", 8), setting("BENCH_ROUNDS", 3)
    connections, threads = setting("BENCH_CONNECTIONS", 16), setting("BENCH_THREADS", 2)
    workers = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
    # The searches' latency is measured with one client per worker: at 16 connections on two cores a
    # p50 or p99 is mostly the queue in front of the request (bare Flask's own p99 passes 50 ms there).
    search_connections = setting("BENCH_SEARCH_CONNECTIONS", int(workers))
    sizes = sorted(int(n) for n in setting("BENCH_SIZES", "1000,1000000").split(","))
    wrk.require_wrk()
    about = {**machine(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    settings = (
        f"{connections} connections, {threads} threads, {seconds} s a yardstick run; {search_connections} "
        f"connections, {max(2, seconds // 3)} s a search run; {rounds} rounds; gunicorn.conf.py with {workers} "
        "workers for every app"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"bench: {about}\nbench: {settings}; database {url}", flush=True)

    shared = {"WEB_CONCURRENCY": workers}
    urls = {rows: database.sized(url, rows) for rows in sizes}
    for rows, sized_url in urls.items():
        if os.environ.get("BENCH_KEEP_DATABASE") == "1" and database.reusable(sized_url, rows):
            print(f"bench: reusing {sized_url}, seeded with {rows:,} rows", flush=True)
            continue
        database.recreate(sized_url)
        database.grow_to(sized_url, rows)
    for sized_url in urls.values():
        database.warm(sized_url)
    production = {"PHOENIX_CONFIG": "production", "PHOENIX_RATELIMIT_ENABLED": "0"}
    phoenixes = {
        rows: Gunicorn(
            "wsgi:app",
            {**shared, **production, "DATABASE_URL": sized_url},
            RESULTS / f"{stamp}-phoenix-{rows}.log",
        )
        for rows, sized_url in urls.items()
    }
    # The limit app at each size: at the largest for the yardstick, at all for the searches' floor.
    limits = {
        rows: Gunicorn(
            "bench.limit:app", {**shared, "DATABASE_URL": sized_url}, RESULTS / f"{stamp}-limit-{rows}.log"
        )
        for rows, sized_url in urls.items()
    }
    limit = limits[max(sizes)]
    bare = Gunicorn("bench.bare:app", shared, RESULTS / f"{stamp}-bare.log", ready_path="/")
    servers = [*phoenixes.values(), *limits.values(), bare]
    yardstick, searches = [], []
    try:
        for server in servers:
            server.start()
        memory = PeakMemory(list(phoenixes.values()))
        memory.start()
        envs = {
            rows: {**os.environ, "BENCH_API_KEY": new_key(server), "BENCH_MAX_ID": str(rows)}
            for rows, server in phoenixes.items()
        }
        big = phoenixes[max(sizes)]
        yardstick_contenders = {
            f"phoenix {max(sizes):,}": (big, envs[max(sizes)]),
            "limit": (limit, envs[max(sizes)]),  # the same database, the same key
            "bare Flask": (bare, envs[max(sizes)]),
        }
        for server, env in yardstick_contenders.values():  # warm up: first requests fill caches
            for case in YARDSTICK[:2]:
                wrk.run(server.url, case.script, 2, connections, threads, {**env, "BENCH_PATH": case.path})
        if args.only != "search":
            for case in YARDSTICK:
                if case.script == "path.lua" and not answers(big, case.path):
                    print(f"  {case.name}: not in this build (no 200 from Phoenix), skipped", flush=True)
                    continue
                yardstick.append(measure(case, yardstick_contenders, seconds, rounds, connections, threads))
        if args.only != "yardstick":
            search_contenders = {
                f"phoenix {rows:,}": (server, envs[rows]) for rows, server in phoenixes.items()
            }
            floor_contenders = {f"limit {rows:,}": (server, envs[rows]) for rows, server in limits.items()}
            for case in [*search_cases(), FOLLOW_FEED]:
                searches.append(
                    measure(
                        case,
                        {**search_contenders, **(floor_contenders if case.floor else {})},
                        max(2, seconds // 3),
                        rounds,
                        search_connections,
                        min(threads, search_connections),
                    )
                )
        memory.stop()
        rss_after = max((mb for server in phoenixes.values() for mb in server.worker_rss_mb()), default=0.0)
    finally:
        for server in servers:
            server.stop()
    checks = targets(yardstick, searches, sizes, rss_after)
    table = report(yardstick, searches, sizes, checks, memory.peak, rss_after, about, settings)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.md").write_text(table + "\n")
    (RESULTS / f"{stamp}.json").write_text(
        json.dumps({"about": about, "settings": settings, "yardstick": yardstick, "searches": searches,
                    "rss_peak_mb": memory.peak, "rss_after_mb": rss_after}, indent=2)
    )  # fmt: skip
    if os.environ.get("BENCH_KEEP_DATABASE") != "1":
        for sized_url in urls.values():
            database.drop(sized_url)
    print("\n" + table + f"\n\nSaved in {RESULTS / stamp}.md and .json", flush=True)
    sys.exit(0 if all(target.met(value) for target, value in checks) else 1)
