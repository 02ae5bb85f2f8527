-- GET the path in BENCH_PATH (one fixed URL: a list page, a search, a changes page)
wrk.path = os.getenv("BENCH_PATH") or "/"
