-- GET /api/games?name=<a word that about one name in ten has>&limit=50
local words = {"dark", "super", "final", "mega", "shadow", "lost", "eternal", "crimson", "legend", "galactic"}
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/api/games?limit=50&name=" .. words[math.random(1, #words)])
end
