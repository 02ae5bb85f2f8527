-- Mixed load for the soak: of every 10 requests, 8 read a random record, 1 lists, 1 creates.
local key = os.getenv("PHOENIX_KEY")
local min_id = tonumber(os.getenv("PHOENIX_MIN_ID"))
local max_id = tonumber(os.getenv("PHOENIX_MAX_ID"))
local create_headers = {["api-key"] = key, ["Content-Type"] = "application/json"}

request = function()
  local r = math.random(10)
  if r <= 8 then
    return wrk.format("GET", "/api/records/" .. math.random(min_id, max_id))
  elseif r == 9 then
    return wrk.format("GET", "/api/records?limit=20")
  end
  return wrk.format("POST", "/api/records", create_headers, '{"value1": "load", "value2": 1.5}')
end
