"""make soak: no acknowledged write is lost under contention, killed workers, a database outage and load.

On a PostgreSQL server of its own (stopped and started at will) behind gunicorn, it runs:
(a) clients adding 1 to one record's value2 with If-Match, retrying on 412;
(b) writes at full speed while a gunicorn worker is killed with SIGKILL every 2 s;
(c) PostgreSQL stopped for 5 s mid-load, then started again;
(d) sustained mixed reads and writes with wrk;
(e) writes while gunicorn restarts every worker (SIGHUP) every 2 s: no request cut, no 5xx;
(f) eight clients sending the most expensive requests the API accepts, on seeded tables, while one
    client reads a record: its p50 and p99 idle and under that load (bounded cost, DESIGN);
and prints a summary table. --short is the quick form that CI runs. Exit status 1 if any part fails.
"""

import argparse
import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import orjson
import sqlalchemy as sa

from bench import wrk
from bench.pgtemp import TempPostgres
from bench.servers import ROOT, VENV_BIN, Gunicorn

FULL = {
    "increments": 400,
    "kill_seconds": 30,
    "load_seconds": 60,
    "load_connections": 64,
    "restart_seconds": 30,
    "seeded": 300_000,
    "expensive_seconds": 20,
}
SHORT = {
    "increments": 80,
    "kill_seconds": 8,
    "load_seconds": 10,
    "load_connections": 64,
    "restart_seconds": 8,
    "seeded": 50_000,
    "expensive_seconds": 6,
}
# (f) The costliest requests that Phoenix accepts (phoenix/listing.py, "Bounded cost"): the largest page,
# searches that read both windows (a substring too short for a trigram; one in 0.5%, neither rare nor
# common), the rare path, and capped counts, in a sort on another field than id.
EXPENSIVE = (
    "/api/games?name=qz&sort=-year&limit=500",
    "/api/games?name=dark souls ii&sort=-year&limit=500&count=exact",
    "/api/records?q=ok&sort=-value2&limit=500",
    "/api/records?q=tem&sort=-value2&limit=500&count=exact",
    "/api/records?q=zqxj&sort=-timestamp&limit=500&count=exact",
    "/api/games?name=e&sort=-publisher&limit=500",
    "/api/games?sort=-year&limit=500&count=exact",
)
# A victim's read is within this of its idle p50 under the expensive load, to pass.
VICTIM_SLACK_MS = 5.0
# (f) runs on a server of its own with the default rate limits on, each client from its own address.
LIMITED = {"PHOENIX_RATELIMIT_ENABLED": "1", "PHOENIX_TRUSTED_PROXIES": "1", "WEB_CONCURRENCY": "4"}
CONNECTION_ERRORS = (OSError, http.client.HTTPException)


class Client:
    """One HTTP request per connection, so a killed worker costs only the request it was serving."""

    def __init__(self, port, key):
        self.port = port
        self.key = key

    def call(self, method, path, body=None, headers=None):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            all_headers = {"api-key": self.key, **(headers or {})}
            payload = None
            if body is not None:
                payload = orjson.dumps(body)
                all_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), orjson.loads(data) if data else None
        finally:
            connection.close()


def run_threads(target, count):
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def while_disrupted(write, writers, disrupt, stop, seconds):
    """Run write(n) in writers threads for seconds, calling disrupt() every 2 s meanwhile; then set stop
    and wait for them all."""

    def disrupting(_):
        while not stop.wait(2):
            disrupt()

    threads = [*run_threads(write, writers), *run_threads(disrupting, 1)]
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()


def stored_records(engine, prefix):
    """{value1: id} of the records a part wrote, their value1 starting with prefix-."""
    with engine.connect() as connection:
        query = sa.text("SELECT value1, id FROM record WHERE value1 LIKE :p")
        return dict(connection.execute(query, {"p": prefix + "-%"}).all())


def concurrent_increments(client, total, clients=8):
    """(a) The final value equals the number of accepted increments."""
    body = client.call("POST", "/api/records", {"value2": 0})[2]
    path = f"/api/records/{body['record']['id']}"
    accepted, conflicts, errors = [0] * clients, [0] * clients, []

    def work(n):
        while accepted[n] < total // clients:
            _, headers, body = client.call("GET", path)
            status = client.call(
                "PATCH", path, {"value2": body["record"]["value2"] + 1}, {"If-Match": headers["ETag"]}
            )[0]
            if status == 200:
                accepted[n] += 1
            elif status == 412:
                conflicts[n] += 1
            else:
                errors.append(status)
                return

    for thread in run_threads(work, clients):
        thread.join()
    final = client.call("GET", path)[2]["record"]["value2"]
    ok = not errors and final == sum(accepted) == total
    detail = f"{clients} clients, {sum(accepted)} accepted, {sum(conflicts)} retried on 412, final value2 {final:g}"
    return ok, detail + (f", errors {errors[:5]}" if errors else "")


def killed_workers(client, server, engine, seconds, writers=8):
    """(b) Every create answered 201 is stored, and every stored row was answered 201."""
    prefix = f"soak-{uuid.uuid4().hex[:8]}"
    answered, retries, errors, kills = {}, [0], [], [0]
    stop = threading.Event()

    def write(n):
        i = 0
        while not stop.is_set():
            token = f"{prefix}-{n}-{i}"
            i += 1
            for _ in range(100):  # the same Idempotency-Key on every retry: a lost answer is replayed
                try:
                    status, _, body = client.call(
                        "POST", "/api/records", {"value1": token}, {"Idempotency-Key": token}
                    )
                except CONNECTION_ERRORS:
                    retries[0] += 1
                    time.sleep(0.05)
                    continue
                if status == 201:
                    answered[token] = body["record"]["id"]
                else:
                    errors.append(status)
                break

    def kill():
        pids = server.worker_pids()
        if pids:
            os.kill(random.choice(pids), signal.SIGKILL)
            kills[0] += 1

    while_disrupted(write, writers, kill, stop, seconds)
    stored = stored_records(engine, prefix)
    lost = [token for token, id in answered.items() if stored.get(token) != id]
    unaccounted = [token for token in stored if token not in answered]
    ok = not errors and not lost and not unaccounted and kills[0] > 0 and answered
    detail = (
        f"{seconds} s, {kills[0]} workers killed, {len(answered)} answered 201, {len(stored)} rows, "
        f"{retries[0]} retried after a cut connection, lost {len(lost)}, unaccounted {len(unaccounted)}"
    )
    return ok, detail + (f", errors {sorted(set(errors))}" if errors else "")


def rolling_restarts(client, server, engine, seconds, writers=8):
    """(e) Under SIGHUP (every worker replaced gracefully) every request is answered 2xx: none retried."""
    prefix = f"restart-{uuid.uuid4().hex[:8]}"
    answered, failures, restarts = {}, [], [0]
    stop = threading.Event()

    def write(n):
        i = 0
        while not stop.is_set():
            token = f"{prefix}-{n}-{i}"
            i += 1
            try:
                status, _, body = client.call("POST", "/api/records", {"value1": token})
            except CONNECTION_ERRORS as error:
                failures.append(repr(error))
                continue
            if status == 201:
                answered[token] = body["record"]["id"]
            else:
                failures.append(status)

    def restart():
        server.process.send_signal(signal.SIGHUP)
        restarts[0] += 1

    while_disrupted(write, writers, restart, stop, seconds)
    stored = stored_records(engine, prefix)
    lost = [token for token, id in answered.items() if stored.get(token) != id]
    ok = not failures and not lost and len(stored) == len(answered) and restarts[0] > 0 and answered
    detail = (
        f"{seconds} s, {restarts[0]} SIGHUPs, {len(answered)} answered 201, {len(stored)} rows, "
        f"{len(failures)} failed"
    )
    return ok, detail + (f": {sorted(set(map(str, failures)))[:5]}" if failures else "")


def database_outage(client, postgres, down_seconds=5, threads=4):
    """(c) Only 503 while PostgreSQL is down, 2xx once it is back, never a 500."""
    log, stop = [], threading.Event()
    marks = {}

    def load(n):
        while not stop.is_set():
            started = time.monotonic()
            try:
                if n % 2:
                    status = client.call("POST", "/api/records", {"value1": "outage"})[0]
                else:
                    status = client.call("GET", "/api/records?limit=5")[0]
            except CONNECTION_ERRORS:
                status = "cut"
            log.append((started, time.monotonic(), status))

    workers = run_threads(load, threads)
    time.sleep(2)
    postgres.stop()
    marks["down"] = time.monotonic()
    time.sleep(down_seconds)
    marks["starting"] = time.monotonic()
    postgres.start()
    marks["up"] = time.monotonic()
    time.sleep(4)
    stop.set()
    for worker in workers:
        worker.join()

    while_down = [s for start, end, s in log if start > marks["down"] and end < marks["starting"]]
    after = [s for start, _, s in log if start > marks["up"] + 0.5]
    server_errors = [s for _, _, s in log if s == "cut" or (isinstance(s, int) and s >= 500 and s != 503)]
    ok = (
        while_down
        and all(s == 503 for s in while_down)
        and after
        and all(isinstance(s, int) and 200 <= s < 300 for s in after)
        and not server_errors
    )
    detail = (
        f"down {down_seconds} s: {len(while_down)} answers, {sum(s == 503 for s in while_down)} of them 503; "
        f"after: {sum(isinstance(s, int) and 200 <= s < 300 for s in after)} of {len(after)} 2xx; "
        f"500s or cut connections: {len(server_errors)}"
    )
    return ok, detail


def sustained_load(client, server, seconds, connections):
    """(d) Mixed reads and writes at many connections: zero errors; p50 and p99."""
    seeded = client.call("POST", "/api/records", [{"value1": f"seed {n}", "value2": n} for n in range(1000)])[
        2
    ]
    ids = [record["id"] for record in seeded["records"]]
    result = wrk.run(
        server.url,
        "mixed.lua",
        seconds,
        connections,
        threads=2,
        env={
            **os.environ,
            "PHOENIX_KEY": client.key,
            "PHOENIX_MIN_ID": str(min(ids)),
            "PHOENIX_MAX_ID": str(max(ids)),
        },
    )
    detail = (
        f"{seconds} s at {connections} connections: {result.requests} requests, "
        f"{result.requests_per_second:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"errors {result.errors}"
    )
    return result.errors == 0 and result.requests > 0, detail


# A normal client: one read every VICTIM_PACE seconds, well within the default reads limit (50 a second).
VICTIM_PACE = 0.05


def victim_latency(client, path, seconds):
    """p50 and p99 in ms of one client reading path every VICTIM_PACE seconds, for seconds."""
    times = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        status = client.call("GET", path, headers={"X-Forwarded-For": "10.0.1.1"})[0]
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"the victim's read answered {status}")
        time.sleep(VICTIM_PACE)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))]


def expensive_requests(client, seconds, judge_latency, attackers=8):
    """(f) Eight clients send the costliest accepted requests as fast as the limits let them (a refused
    one waits its Retry-After: flooding past the limits is a proxy's to stop); a plain read stays near
    its idle latency."""
    path = "/api/records/5"
    victim_latency(client, path, 1)  # warm up
    idle = victim_latency(client, path, seconds)
    stop, statuses = threading.Event(), []

    def attack(n):
        i = n
        while not stop.is_set():
            url = EXPENSIVE[i % len(EXPENSIVE)].replace(" ", "%20")
            i += 1
            try:
                status, headers, _ = client.call("GET", url, headers={"X-Forwarded-For": f"10.0.0.{n + 1}"})
            except CONNECTION_ERRORS:
                statuses.append("cut")
                continue
            statuses.append(status)
            if status == 429:  # as fast as the limits let them: a refused client waits as told
                stop.wait(float(headers.get("Retry-After", 1)))

    threads = run_threads(attack, attackers)
    time.sleep(1)
    loaded = victim_latency(client, path, seconds)
    stop.set()
    for thread in threads:
        thread.join()
    served, limited = statuses.count(200), statuses.count(429)
    bad = [s for s in statuses if s not in (200, 429)]
    within = loaded[0] <= idle[0] + VICTIM_SLACK_MS
    ok = not bad and (within or not judge_latency)
    detail = (
        f"GET {path} idle p50 {idle[0]:.1f} ms p99 {idle[1]:.1f} ms; with {attackers} clients sending "
        f"the costliest requests ({served} served, {limited} refused 429): p50 {loaded[0]:.1f} ms "
        f"p99 {loaded[1]:.1f} ms (allowed p50 {idle[0] + VICTIM_SLACK_MS:.1f}"
        f"{'' if judge_latency else ', not judged in the short form'}); other answers: {len(bad)}"
    )
    return ok, detail + (f" {sorted(set(map(str, bad)))}" if bad else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the quick form that CI runs")
    settings = SHORT if parser.parse_args().short else FULL
    rows = []
    with TempPostgres() as postgres:
        env = {
            **os.environ,
            "DATABASE_URL": postgres.url,
            "PHOENIX_RATELIMIT_ENABLED": "0",
            "LOG_LEVEL": "ERROR",
        }
        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True
        )
        for table in ("records", "games"):  # tables of a size where an unbounded request would show
            subprocess.run(
                [str(VENV_BIN / "flask"), "--app", "wsgi", "seed", table, str(settings["seeded"]), "--seed", "1"],
                cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        # pool_pre_ping: the soak's own connection must survive part (c), which restarts PostgreSQL.
        engine = sa.create_engine(
            postgres.url.replace("postgresql://", "postgresql+psycopg2://"), pool_pre_ping=True
        )
        log = ROOT / "artifacts" / "soak-gunicorn.log"
        with Gunicorn("wsgi:app", env={**env, "WEB_CONCURRENCY": "4"}, log_path=log) as server:
            key = Client(server.port, "").call(
                "POST", "/api/keys", {"username": f"soak{uuid.uuid4().hex[:6]}"}
            )
            client = Client(server.port, key[2]["api_key"])
            rows.append(
                ("(a) concurrent If-Match increments", *concurrent_increments(client, settings["increments"]))
            )
            rows.append(
                (
                    "(b) SIGKILL a worker every 2 s",
                    *killed_workers(client, server, engine, settings["kill_seconds"]),
                )
            )
            rows.append(("(c) PostgreSQL stopped for 5 s", *database_outage(client, postgres)))
            rows.append(
                (
                    "(d) sustained mixed load",
                    *sustained_load(client, server, settings["load_seconds"], settings["load_connections"]),
                )
            )
            rows.append(
                (
                    "(e) SIGHUP (rolling restart) every 2 s",
                    *rolling_restarts(client, server, engine, settings["restart_seconds"]),
                )
            )
        log = ROOT / "artifacts" / "soak-gunicorn-limited.log"
        with Gunicorn("wsgi:app", env={**env, **LIMITED}, log_path=log) as server:
            client = Client(server.port, "")
            rows.append(
                (
                    "(f) costliest requests vs a read",
                    *expensive_requests(client, settings["expensive_seconds"], settings is FULL),
                )
            )
        engine.dispose()
    width = max(len(name) for name, _, _ in rows)
    print(f"\nsoak ({'short' if settings is SHORT else 'full'}), {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'part':<{width}}  result  details")
    for name, ok, detail in rows:
        print(f"{name:<{width}}  {'PASS' if ok else 'FAIL':<6}  {detail}")
    sys.exit(0 if all(ok for _, ok, _ in rows) else 1)


if __name__ == "__main__":
    main()
