"""The benchmark: Phoenix and a bare Flask app, same gunicorn settings, on PostgreSQL, driven by wrk.

Makes one database per size (1,000 and 1,000,000 rows in each table), serves each with its own Phoenix,
and for each case runs Phoenix at every size and bare Flask in turn, round after round (alternating,
so that a noisy neighbour weighs on all alike; the p50 at one size is compared with the p50 at another
measured minutes apart otherwise). Reports the medians: req/s, p50 and p99 latency, the ratio to bare
Flask, and the peak resident memory of Phoenix's workers.

Settings (environment): BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/phoenix_bench,
dropped and made again), BENCH_SECONDS (10 per run), BENCH_ROUNDS (3 runs of each app per case),
BENCH_CONNECTIONS (16), BENCH_THREADS (2), BENCH_SIZES (1000,1000000), WEB_CONCURRENCY (workers of
each app; default one per CPU core: with wrk and PostgreSQL on the same cores, more workers only contend).
"""

import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import database, wrk
from bench.servers import Gunicorn

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Case:
    """One thing to measure: a wrk script, and which bare Flask answer it is compared with."""

    name: str
    script: str
    method: str  # GET or POST: the bare app's matching answer


CASES = [
    Case("GET /api/records/<id>", "random_record.lua", "GET"),
    Case("GET /api/records?limit=50", "list_records.lua", "GET"),
    Case("GET /api/games?name=<word>&limit=50", "search_games.lua", "GET"),
    Case("POST /api/records (key)", "post_record.lua", "POST"),
    Case("GET /api/changes?limit=100 (following)", "follow_changes.lua", "GET"),
]


@dataclass(frozen=True)
class Target:
    """A goal of the issue: a number from the results, at most or at least a bound."""

    label: str
    bound: float
    at_least: bool

    def met(self, value):
        return value >= self.bound if self.at_least else value <= self.bound


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
        data=json.dumps({"username": "bench"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)["api_key"]


def measure(case, phoenixes, bare, envs, seconds, rounds, connections, threads):
    """Runs of case on Phoenix at each size (phoenixes: {rows: server}) and on bare Flask, in turn, round
    after round; per size, the medians and the ratio to bare Flask's median."""
    contenders = [*phoenixes.items(), (None, bare)]
    runs = {rows: [] for rows, _ in contenders}
    for round_number in range(rounds):
        shift = round_number % len(contenders)
        for rows, server in contenders[shift:] + contenders[:shift]:
            env = envs[rows if rows is not None else min(phoenixes)]
            result = wrk.run(server.url, case.script, seconds, connections, threads, env)
            runs[rows].append(result)
            who = f"phoenix {rows:>9,} rows" if rows is not None else "bare Flask        "
            print(
                f"  {case.name:38} {who}  {result.requests_per_second:7.0f} req/s  "
                f"p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms  errors {result.errors}",
                flush=True,
            )
    bare_summary = summarize(runs[None])
    return [
        {"case": case.name, "rows": rows, "phoenix": summarize(runs[rows]), "bare": bare_summary,
         "ratio": statistics.median(r.requests_per_second for r in runs[rows]) / bare_summary["rps"]}
        for rows in phoenixes
    ]  # fmt: skip


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


def targets(results, rss_after):
    """Each target of the issue, with the value measured."""
    by = {(r["case"], r["rows"]): r for r in results}
    large, small = max(r["rows"] for r in results), min(r["rows"] for r in results)
    item, listing, search, post, feed = (case.name for case in CASES)

    def p50_growth(case):
        return by[(case, large)]["phoenix"]["p50_ms"] / by[(case, small)]["phoenix"]["p50_ms"]

    return [
        (Target(f"{item} req/s vs bare GET, {large:,} rows", 0.5, True), by[(item, large)]["ratio"]),
        (Target(f"{post} req/s vs bare POST, {large:,} rows", 0.35, True), by[(post, large)]["ratio"]),
        (Target(f"{listing} req/s vs bare GET, {large:,} rows", 0.25, True), by[(listing, large)]["ratio"]),
        (Target(f"{listing} p50 at {large:,} / at {small:,} rows", 1.5, False), p50_growth(listing)),
        (Target(f"{search} p50 at {large:,} / at {small:,} rows", 1.5, False), p50_growth(search)),
        (Target(f"{feed} p50 at {large:,} / at {small:,} rows", 1.5, False), p50_growth(feed)),
        (Target("Phoenix worker RSS after the run, MB", 100, False), rss_after),
    ]


def report(results, checks, peak, rss_after, about, settings):
    """The results as a Markdown table (for the README), and whether every target was met."""
    lines = [
        f"Measured {about['date']} on {about['cpu']} ({about['cores']} cores, {about['memory_gb']} GB), "
        f"{about['system']}, Python {about['python']}, PostgreSQL on the same machine; load average "
        f"{about['load_before']} before the run. wrk: {settings}.",
        "",
        "| case | rows | Phoenix req/s | p50 ms | p99 ms | bare Flask req/s | p50 ms | p99 ms | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p, b = r["phoenix"], r["bare"]
        lines.append(
            f"| {r['case']} | {r['rows']:,} | {p['rps']:,.0f} | {p['p50_ms']:.2f} | {p['p99_ms']:.2f} "
            f"| {b['rps']:,.0f} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {r['ratio']:.2f} |"
        )
    lines += ["", f"Peak Phoenix worker RSS: {peak:.1f} MB; after the run: {rss_after:.1f} MB.", ""]
    lines += ["| target | goal | measured | |", "|---|---:|---:|---|"]
    for target, value in checks:
        goal = f"{'>=' if target.at_least else '<='} {target.bound:g}"
        verdict = "met" if target.met(value) else "MISSED"
        lines.append(f"| {target.label} | {goal} | {value:.2f} | {verdict} |")
    return "\n".join(lines)


def main():
    url = database.bench_url()
    seconds, rounds = setting("BENCH_SECONDS", 10), setting("BENCH_ROUNDS", 3)
    connections, threads = setting("BENCH_CONNECTIONS", 16), setting("BENCH_THREADS", 2)
    sizes = [int(n) for n in setting("BENCH_SIZES", "1000,1000000").split(",")]
    wrk.require_wrk()
    workers = os.environ.get("WEB_CONCURRENCY") or str(os.cpu_count() or 1)
    about = {**machine(), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    settings = (
        f"{connections} connections, {threads} threads, {seconds} s a run, {rounds} runs of each app "
        f"per case; gunicorn.conf.py with {workers} workers for both apps"
        + (
            f" and GUNICORN_CMD_ARGS {os.environ['GUNICORN_CMD_ARGS']!r}"
            if os.environ.get("GUNICORN_CMD_ARGS")
            else ""
        )
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    print(f"bench: {about}\nbench: {settings}; database {url}", flush=True)

    shared = {"WEB_CONCURRENCY": workers}
    urls = {rows: database.sized(url, rows) for rows in sizes}
    for rows, sized_url in urls.items():
        database.recreate(sized_url)
        database.grow_to(sized_url, rows)
    phoenixes = {
        rows: Gunicorn(
            "wsgi:app",
            {
                **shared,
                "DATABASE_URL": sized_url,
                "PHOENIX_CONFIG": "production",
                "PHOENIX_RATELIMIT_ENABLED": "0",
            },
            RESULTS / f"{stamp}-phoenix-{rows}.log",
        )
        for rows, sized_url in urls.items()
    }
    bare = Gunicorn("bench.bare:app", shared, RESULTS / f"{stamp}-bare.log", ready_path="/")
    results = []
    servers = [*phoenixes.values(), bare]
    try:
        for server in servers:
            server.start()
        memory = PeakMemory(list(phoenixes.values()))
        memory.start()
        envs = {
            rows: {**os.environ, "BENCH_API_KEY": new_key(server), "BENCH_MAX_ID": str(rows)}
            for rows, server in phoenixes.items()
        }
        for server in servers:  # warm up: first requests fill caches
            for case in CASES[:3]:
                wrk.run(server.url, case.script, 2, connections, threads, envs[min(sizes)])
        for case in CASES:
            results += measure(case, phoenixes, bare, envs, seconds, rounds, connections, threads)
        memory.stop()
        rss_after = max((mb for server in phoenixes.values() for mb in server.worker_rss_mb()), default=0.0)
    finally:
        for server in servers:
            server.stop()
    results.sort(key=lambda result: result["rows"])
    checks = targets(results, rss_after)
    table = report(results, checks, memory.peak, rss_after, about, settings)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stamp}.md").write_text(table + "\n")
    (RESULTS / f"{stamp}.json").write_text(
        json.dumps({"about": about, "settings": settings, "results": results, "rss_peak_mb": memory.peak,
                    "rss_after_mb": rss_after}, indent=2)
    )  # fmt: skip
    if os.environ.get("BENCH_KEEP_DATABASE") != "1":
        for sized_url in urls.values():
            database.drop(sized_url)
    print("\n" + table + f"\n\nSaved in {RESULTS / stamp}.md and .json", flush=True)
    sys.exit(0 if all(target.met(value) for target, value in checks) else 1)
