"""Fixtures for every test, one module per concern under tests/fixtures/.

The chain, from the bottom:

    postgres_server_url -> postgres_database -> db_url (session; SQLite, then PostgreSQL: a test that
        uses it runs twice) -> app_config -> app (an empty, migrated database each test)
        -> client, runner -> make_key -> api_key -> auth -> actions (create_record, create_game)
    app -> rows (a model's rows as stored), stored_anywhere (where a string is kept, to the byte)
    redis_url -> redis_prefix (a Redis key prefix of the test's own)

- tests/fixtures/databases.py: the databases (db_url, blank_url, scratch_database, migrated), the
  postgresql_only marker (its SQLite half deselected), and the count of tests that used PostgreSQL
  (PHOENIX_REQUIRE_POSTGRES=1 fails a run in which none passed).
- tests/fixtures/apps.py: app, client, runner, keys, rows, actions.
- tests/fixtures/redis_server.py: redis_url, redis_prefix.
- tests/fixtures/storage.py: stored_anywhere, storage_search (places_holding).

Only PostgreSQL tests the row locks (SQLite serialises writes): those races are in
tests/test_row_locks.py, marked postgresql_only.
"""

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.apps",
    "tests.fixtures.redis_server",
    "tests.fixtures.storage",
]
