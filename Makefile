# The two commands of the quick start (`make run`, `make test`) and the ones around them.
# Each makes its own virtualenv in .venv from requirements.txt: only Python 3 is needed.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FLASK := $(BIN)/flask --app wsgi
# wrk drives the bench and the soak's load: Debian's package, installed when missing.
WRK := command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)

.PHONY: run test test-browser screenshots lint format migrate bench soak clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

## run: serve the API with gunicorn on 127.0.0.1:5000 (SQLite unless DATABASE_URL says otherwise)
run: $(STAMP)
	$(FLASK) db upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

## test: the test suite on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## test-browser: only the browser tests (headless Chromium: apt-get install chromium chromium-driver)
test-browser: $(STAMP)
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

## screenshots: the browser tests, then their pictures of / and /api/docs into docs/ for the README
screenshots: test-browser
	cp artifacts/landing.png artifacts/landing-phone.png artifacts/swagger-ui.png artifacts/swagger-ui-try-it-out.png docs/

## lint: ruff's checks and formatting, as CI runs them
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## migrate: apply migrations to DATABASE_URL (or the SQLite default)
migrate: $(STAMP)
	$(FLASK) db upgrade

## bench: Phoenix vs a bare Flask app under gunicorn on PostgreSQL, driven by wrk (installed if missing)
bench: $(STAMP)
	$(WRK)
	$(BIN)/python -m bench $(BENCH_ARGS)

## soak: no write lost under contention, killed workers, a database outage and load (SOAK_ARGS=--short: CI's form)
soak: $(STAMP)
	$(WRK)
	$(BIN)/python -m bench.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
