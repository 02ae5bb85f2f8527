-- Follow the changes feed: each wrk thread asks for the page after the last one it was given (its
-- next_cursor), 100 changes a page; at the end of the feed it starts again from the first change, so
-- that every page is a full one whatever the size of the history.
local cursor = nil

request = function()
  if cursor then
    return wrk.format("GET", "/api/changes?limit=100&since=" .. cursor)
  end
  return wrk.format("GET", "/api/changes?limit=100")
end

response = function(status, headers, body)
  if body:find('"changes":[]', 1, true) then
    cursor = nil
  else
    cursor = body:match('"next_cursor":"([^"]+)"') or cursor
  end
end
