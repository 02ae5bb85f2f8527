-- GET /api/records?limit=50: the first page of the list
wrk.path = "/api/records?limit=50"
