# Laku Grosir. Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)
export FLASK_APP := bot.app
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# What `make test` runs against (this machine kind runs both; CI exports the same).
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0
PYTEST_ARGS       ?=

.PHONY: setup run chat worker migrate demo test test-sqlite lint check bench-allocation bench-webhook bench-expiry bench-faults clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

migrate: setup
	$(BIN)/alembic upgrade head

demo: migrate
	$(BIN)/flask laku demo

run: setup
	@mkdir -p instance
	@if [ -z "$$REDIS_URL" ]; then echo "Starting the embedded Redis: $$($(BIN)/python -m jobs.embedded_redis start)"; fi
	$(BIN)/alembic upgrade head
	$(BIN)/flask laku demo
	@echo ""
	@echo "================================================================================"
	@echo " Laku Grosir is starting on http://127.0.0.1:$${PORT:-5000}  (web + worker + clock)"
	@echo " Chat with the bot from another terminal, exactly as on WhatsApp:"
	@echo "     make chat                      (then type MENU, SESI, INFO KAOS1, IKUT KAOS1 M 2 ...)"
	@echo " Outbound WhatsApp messages are printed here by the worker (console transport)."
	@echo " Ctrl-C stops everything."
	@echo "================================================================================"
	@echo ""
	@trap '[ -n "$$REDIS_URL" ] || $(BIN)/python -m jobs.embedded_redis stop' EXIT; \
	  trap 'exit 130' INT TERM; \
	  PORT=$${PORT:-5000} $(BIN)/honcho start -f Procfile web worker clock

chat: setup
	$(BIN)/flask laku chat --url http://127.0.0.1:$${PORT:-5000} $(CHAT_ARGS)

test: setup
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	  $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The same suite on the embedded default's SQLite (PostgreSQL-only concurrency tests are skipped).
test-sqlite: setup
	env -u DATABASE_URL LAKU_SQLITE_RUN=1 REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(BIN)/python -m pytest -q $(PYTEST_ARGS)

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

# The Procfile's web command under slow clients, next to the old sync line; --candidates adds gthread, nginx.
bench-faults: setup
	$(BIN)/python -m bench.faults $(BENCH_ARGS)

clean:
	-$(BIN)/python -m jobs.embedded_redis stop 2>/dev/null
	rm -rf $(VENV) instance .pytest_cache .hypothesis *.egg-info
