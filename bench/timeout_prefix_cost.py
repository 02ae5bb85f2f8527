"""What the statement timeout sent with each autocommit read costs: one indexed SELECT, alone and behind
"SET LOCAL statement_timeout = ...;" in the same message, on one psycopg2 connection (medians of 5 x 5000).

Run: .venv/bin/python -m bench.timeout_prefix_cost [DATABASE_URL]
"""

import statistics
import sys
import time

import psycopg2

QUERY = "SELECT oid, relname, relkind FROM pg_class WHERE oid = %s"
PREFIX = "SET LOCAL statement_timeout = 5000; "


def microseconds_per_statement(cursor, sql, count=5000):
    started = time.perf_counter()
    for _ in range(count):
        cursor.execute(sql, (1259,))
        cursor.fetchall()
    return (time.perf_counter() - started) / count * 1e6


def main(url="postgresql://postgres@127.0.0.1:5432/test"):
    connection = psycopg2.connect(url)
    connection.autocommit = True
    runs = {"alone": [], "with SET LOCAL": []}
    with connection.cursor() as cursor:
        for _ in range(5):  # interleaved, so that a busy neighbour weighs on both alike
            runs["alone"].append(microseconds_per_statement(cursor, QUERY))
            runs["with SET LOCAL"].append(microseconds_per_statement(cursor, PREFIX + QUERY))
    connection.close()
    for name, values in runs.items():
        print(
            f"{name}: median {statistics.median(values):.0f} us a statement ({', '.join(f'{v:.0f}' for v in values)})"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
