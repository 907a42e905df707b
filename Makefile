# Laku Grosir. Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
export FLASK_APP := bot.app
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# What `make test` runs against unless DATABASE_URL and REDIS_URL say otherwise: a local PostgreSQL and Redis.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST_ARGS       ?=

# The dashboard's SECRET_KEY on the embedded default: made once by `make run`, kept under instance/.
SECRET_KEY_FILE := instance/secret_key
WITH_KEY := SECRET_KEY=$${SECRET_KEY:-$$(cat $(SECRET_KEY_FILE) 2>/dev/null)}

.PHONY: setup run chat worker migrate demo test test-sqlite screenshots lint check bench-allocation bench-webhook bench-expiry bench-outbound bench-outage bench-faults clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

migrate: setup
	$(BIN)/alembic upgrade head

demo: migrate
	$(WITH_KEY) $(BIN)/flask laku demo

run: setup
	@mkdir -p instance
	@test -s $(SECRET_KEY_FILE) || (umask 077 && $(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $(SECRET_KEY_FILE))
	@if [ -z "$$REDIS_URL" ]; then echo "Starting the embedded Redis: $$($(BIN)/python -m jobs.embedded_redis start)"; fi
	$(BIN)/alembic upgrade head
	$(WITH_KEY) $(BIN)/flask laku demo
	@$(WITH_KEY) $(BIN)/flask laku demo-operator >/dev/null
	@echo ""
	@echo "================================================================================"
	@echo " Laku Grosir is starting on http://127.0.0.1:$${PORT:-5000}  (web + worker + clock)"
	@echo " Operator dashboard: http://127.0.0.1:$${PORT:-5000}/admin"
	@if [ -s instance/demo-login ]; then echo "     log in as:  $$(cat instance/demo-login)   (user / password)"; \
	  else echo "     log in with your operator account (flask laku create-operator NAME)"; fi
	@echo " Chat with the bot from another terminal, exactly as on WhatsApp:"
	@echo "     make chat                      (then type MENU, SESI, INFO KAOS1, IKUT KAOS1 M 2 ...)"
	@echo " Outbound WhatsApp messages are printed here by the worker (console transport)."
	@echo " Ctrl-C stops everything."
	@echo "================================================================================"
	@echo ""
	@trap '[ -n "$$REDIS_URL" ] || $(BIN)/python -m jobs.embedded_redis stop' EXIT; \
	  trap 'exit 130' INT TERM; \
	  $(WITH_KEY) PORT=$${PORT:-5000} RQ_LOG_LEVEL=$${RQ_LOG_LEVEL:-WARNING} $(BIN)/honcho start -f Procfile web worker clock

chat: setup
	$(WITH_KEY) $(BIN)/flask laku chat --url http://127.0.0.1:$${PORT:-5000} $(CHAT_ARGS)

test: setup
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The same suite on the embedded default's SQLite (PostgreSQL-only concurrency tests are skipped).
test-sqlite: setup
	env -u DATABASE_URL LAKU_SQLITE_RUN=1 REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The dashboard's browser tests again, saving their screenshots for the docs (docs/screenshots/*.png).
screenshots: setup
	env -u DATABASE_URL LAKU_SQLITE_RUN=1 LAKU_SCREENSHOTS=docs/screenshots REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(BIN)/python -m pytest -q tests/test_dashboard_browser.py

lint: setup
	$(BIN)/ruff check core bot jobs tests bench migrations
	$(BIN)/ruff format --check core bot jobs tests bench migrations
	$(BIN)/mypy core

# Migrate an empty database (DATABASE_URL, default a fresh SQLite file) and check models == migrations.
check: setup
	@mkdir -p instance && rm -f instance/check.db
	DATABASE_URL=$${DATABASE_URL:-sqlite:///instance/check.db} $(BIN)/alembic upgrade head
	DATABASE_URL=$${DATABASE_URL:-sqlite:///instance/check.db} $(BIN)/alembic check

# Benchmarks: what each measures and the committed results are in bench/README.md.
# BENCH_ARGS=--quick is a smoke run (results in bench/results/quick/); bench-expiry takes --experiments.
bench-allocation: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.allocation $(BENCH_ARGS)

bench-webhook: setup
	$(BIN)/python -m bench.webhook $(BENCH_ARGS)

bench-expiry: setup
	$(BIN)/python -m bench.expiry $(BENCH_ARGS)

bench-outbound: setup
	$(BIN)/python -m bench.outbound $(BENCH_ARGS)

bench-outage: setup
	$(BIN)/python -m bench.outage $(BENCH_ARGS)

# The Procfile's web command under slow clients, next to the old sync line; --candidates adds gthread, nginx.
bench-faults: setup
	$(BIN)/python -m bench.faults $(BENCH_ARGS)

clean:
	-$(BIN)/python -m jobs.embedded_redis stop 2>/dev/null
	rm -rf $(VENV) instance .pytest_cache .hypothesis *.egg-info
