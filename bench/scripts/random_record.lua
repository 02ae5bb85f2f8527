-- GET /api/records/<random id from 1 to BENCH_MAX_ID>
local max_id = tonumber(os.getenv("BENCH_MAX_ID") or "1000")
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/records/" .. math.random(1, max_id))
end
