-- POST /api/records with a small record, signed with the key in BENCH_API_KEY
wrk.method = "POST"
wrk.path = "/api/records"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["api-key"] = os.getenv("BENCH_API_KEY") or ""
wrk.body = '{"timestamp": 1731234567.891, "value1": "greenhouse temperature ok", "value2": 21.437, "value3": true}'
