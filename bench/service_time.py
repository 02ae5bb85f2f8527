"""python -m bench.service_time: each search case's service time at the smallest and largest size.

One client, in-process (the Flask test client), on the databases that `make bench` kept
(BENCH_KEEP_DATABASE=1, the same BENCH_DATABASE_URL and BENCH_SIZES): no server and no queueing, so
that the growth with the table's size shows even on a machine too busy for wrk's numbers to mean much.
Prints a Markdown table: p50 at each size, their ratio, and the worst of the requests at the largest.
"""

import os
import statistics
import time

from bench import database
from bench.run import search_cases
from phoenix import create_app

REQUESTS = 25


def main():
    url = database.bench_url()
    sizes = sorted(int(n) for n in (os.environ.get("BENCH_SIZES") or "1000,1000000").split(","))
    small, large = sizes[0], sizes[-1]
    clients = {
        rows: create_app(
            {"SQLALCHEMY_DATABASE_URI": database.sized(url, rows), "RATELIMIT_ENABLED": False}
        ).test_client()
        for rows in (small, large)
    }
    print(f"| search | p50 ms at {small:,} | p50 ms at {large:,} | growth | worst ms at {large:,} | items |")
    print("|---|---:|---:|---:|---:|---:|")
    for case in search_cases():
        times = {rows: [] for rows in clients}
        for _ in range(REQUESTS + 1):  # the first of each is a warm-up
            for rows, client in clients.items():
                started = time.perf_counter()
                response = client.get(case.path)
                times[rows].append((time.perf_counter() - started) * 1000)
        p50 = {rows: statistics.median(values[1:]) for rows, values in times.items()}
        items = len(next(value for key, value in response.json.items() if isinstance(value, list)))
        print(
            f"| {case.path} | {p50[small]:.2f} | {p50[large]:.2f} | {p50[large] / p50[small]:.2f} "
            f"| {max(times[large][1:]):.2f} | {items} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
