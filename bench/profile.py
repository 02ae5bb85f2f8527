"""python -m bench.profile: where a Phoenix worker spends its time on one benchmark case, by py-spy.

One gunicorn worker (gunicorn.conf.py, so the production worker class) serves a database of BENCH_ROWS rows
(default 1,000: the per-request cost of the yardstick cases does not depend on the size), wrk drives one
case for --seconds, and py-spy samples the worker meanwhile. It prints the share of the samples in which
each function was on the stack (inclusive) and where the time was spent last (self), the top --top of each;
the raw collapsed stacks are kept in bench/results for a flame graph (py-spy's speedscope or flamegraph).

    .venv/bin/pip install py-spy   # not a dependency of Phoenix
    .venv/bin/python -m bench.profile item|list|create|feed [--seconds 15] [--top 40]

py-spy needs ptrace: as root, or with kernel.yama.ptrace_scope=0.
"""

import argparse
import collections
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import database, wrk
from bench.run import RESULTS, new_key
from bench.servers import Gunicorn

CASES = {
    "item": ("random_record.lua", ""),
    "list": ("path.lua", "/api/records?limit=50"),
    "create": ("post_record.lua", ""),
    "feed": ("path.lua", "/api/changes?limit=100"),
}


def options(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--app", default="wsgi:app", help="the WSGI app to profile (bench.limit:app, say)")
    parser.add_argument("--cpu-only", action="store_true", help="no py-spy: only the worker's CPU a request")
    return parser.parse_args(argv)


def shares(collapsed):
    """(inclusive, self) sample counts by function, and the total, from py-spy's collapsed stacks."""
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        total += count
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[1].split(":")[0] + ")" for frame in
                  stack.split(";") if " (" in frame]  # fmt: skip
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return inclusive, own, total


def cpu_seconds(pid):
    """The CPU time (user and system) a process has used, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def py_spy_path():
    found = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy is not installed: .venv/bin/pip install py-spy")
    return found


def main(argv=None):
    args = options(argv)
    py_spy = None if args.cpu_only else py_spy_path()
    rows = int(os.environ.get("BENCH_ROWS") or 1000)
    url = database.sized(database.bench_url(), rows)
    if not database.reusable(url, rows):
        database.recreate(url)
        database.grow_to(url, rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    env = {"WEB_CONCURRENCY": "1", "PHOENIX_CONFIG": "production", "PHOENIX_RATELIMIT_ENABLED": "0"}
    wrk_env = {**os.environ, "BENCH_PATH": CASES[args.case][1], "BENCH_MAX_ID": str(rows)}
    if args.case == "create":  # a key from Phoenix, which the limit app checks as Phoenix does
        with Gunicorn("wsgi:app", {**env, "DATABASE_URL": url}, RESULTS / f"{stamp}-keys.log") as phoenix:
            wrk_env["BENCH_API_KEY"] = new_key(phoenix)
    server = Gunicorn(args.app, {**env, "DATABASE_URL": url}, RESULTS / f"{stamp}-profile.log")
    script = CASES[args.case][0]
    output = RESULTS / f"{stamp}-profile-{args.case}.collapsed"
    with server:
        wrk.run(server.url, script, 3, args.connections, 2, wrk_env)  # warm up
        (worker,) = server.worker_pids()
        spy = py_spy and subprocess.Popen(
            [py_spy, "record", "--pid", str(worker), "--rate", "250", "--format", "raw", "--nonblocking",
             "--duration", str(args.seconds), "--output", str(output)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        cpu_before = cpu_seconds(worker)
        result = wrk.run(server.url, script, args.seconds, args.connections, 2, wrk_env)
        cpu_ms = 1000 * (cpu_seconds(worker) - cpu_before) / max(result.requests, 1)
        if spy:
            spy.wait()
    print(f"{args.app} {args.case}: {result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
          f"worker CPU {cpu_ms:.3f} ms a request{'' if args.cpu_only else ' (py-spy sampling it)'}")  # fmt: skip
    if args.cpu_only:
        return
    inclusive, own, total = shares(output.read_text())
    print(f"{total} samples in {output}")
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for frame, count in counts.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
