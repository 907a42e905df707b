"""What every benchmark shares: its own database, the facts of the machine it ran on, its result files.

- **Database**: `create_database` makes an empty PostgreSQL database of the benchmark's own, migrated with
  `alembic upgrade head` exactly as a deployment is; `drop_database` removes it. Benchmarks talk to it
  with their own engines (`engine`, `sessions`), never the product's.
- **Machine facts**: `machine_facts` records CPUs, load, versions, the PostgreSQL settings that decide
  commit cost (fsync, synchronous_commit...) and the commit of the code measured, so a table can always
  be read next to the conditions it was measured in.
- **Results**: `publish` writes `bench/results/<name>.json` and replaces the benchmark's generated block
  in `bench/README.md` (a `--quick` or `--out` run writes `<name>.json` and `<name>.md` to its own
  directory instead, so a smoke run never touches the committed figures).

A new benchmark is one file with a `main()` that measures, a `render(report) -> str` that turns its JSON
into markdown, and one line in `bench.readme.RENDERERS`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
QUICK_DIR = RESULTS_DIR / "quick"  # git-ignored (bench/.gitignore)
README = ROOT / "bench" / "README.md"

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
"""An existing database on the server, used only to create and drop the benchmarks' own."""

PACKAGES = ("sqlalchemy", "psycopg", "alembic", "flask", "gunicorn", "rq", "redis", "twilio")
PG_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "shared_buffers", "max_connections")


def logger(name: str) -> Callable[[str], None]:
    def log(message: str) -> None:
        print(f"[bench.{name} {time.strftime('%H:%M:%S')}] {message}", flush=True)

    return log


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------------------
# The benchmark's own database
# ---------------------------------------------------------------------------------------------------------


def create_database(admin_url: str, name: str, app_root: Path = ROOT) -> str:
    """(Re)create `name` on the server of `admin_url`, run `alembic upgrade head` from `app_root` on it,
    and return its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=app_root,
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(app_root)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return url


def drop_database(admin_url: str, name: str) -> None:
    """Drop `name`, closing whatever connections are still open to it (FORCE)."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def engine(url: str, **kwargs: Any) -> Engine:
    """A connection-per-use engine: nothing pooled survives into a dropped database."""
    return create_engine(url, poolclass=NullPool, **kwargs)


def sessions(url: str) -> sessionmaker[Session]:
    """ORM sessions for seeding through the product's public catalogue functions."""
    return sessionmaker(bind=engine(url), expire_on_commit=False)


def empty_tables(url: str) -> None:
    """TRUNCATE every table the migrations made (except Alembic's own), ids restarting at 1."""
    with engine(url).begin() as connection:
        tables = connection.execute(
            text(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        connection.execute(text(f"TRUNCATE TABLE {', '.join(tables)} RESTART IDENTITY CASCADE"))


def flush_redis(url: str) -> None:
    """Empty a benchmark's own Redis database."""
    from redis import Redis

    connection = Redis.from_url(url)
    connection.flushdb()
    connection.close()


def vacuum_analyze(url: str) -> None:
    """VACUUM ANALYZE and a CHECKPOINT, so every timed run starts from the same state."""
    with engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
        connection.execute(text("VACUUM ANALYZE"))
        connection.execute(text("CHECKPOINT"))


def table_activity(url: str) -> dict[str, int]:
    """PostgreSQL's own counters for this database (cumulative; subtract two readings). Backends report
    them when they go idle or exit, so read them after the processes measured have disconnected."""
    with engine(url).connect() as connection:
        connection.execute(text("SELECT pg_stat_clear_snapshot()"))
        tables = connection.execute(
            text(
                "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0), coalesce(sum(n_tup_ins), 0), "
                "coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables"
            )
        ).one()
        database = connection.execute(
            text(
                "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database "
                "WHERE datname = current_database()"
            )
        ).one()
    keys = ("table_scans", "rows_inserted", "rows_updated", "rows_deleted")
    return {
        **dict(zip(keys, map(int, tables), strict=True)),
        **dict(zip(("commits", "rollbacks", "deadlocks"), map(int, database), strict=True)),
    }


def activity_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in after}


# ---------------------------------------------------------------------------------------------------------
# Machine facts
# ---------------------------------------------------------------------------------------------------------


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_facts(url: str | None = None, redis_url: str | None = None) -> dict[str, Any]:
    """CPU, load, versions; with `url` the PostgreSQL version and commit-cost settings; with `redis_url`
    the Redis version; and the commit of the code measured (and whether core/bot/jobs/migrations differ
    from it)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    facts: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": load_average(),
        "python": platform.python_version(),
        "packages": versions,
        "commit": _git("rev-parse", "HEAD") or None,
        "uncommitted_changes": bool(_git("status", "--porcelain", "--", "core", "bot", "jobs", "migrations")),
    }
    if url:
        with engine(url).connect() as connection:
            facts["postgresql"] = connection.execute(text("SHOW server_version")).scalar()
            facts["postgresql_settings"] = {
                name: connection.execute(text(f"SHOW {name}")).scalar() for name in PG_SETTINGS
            }
    if redis_url:
        from redis import Redis

        connection = Redis.from_url(redis_url)
        facts["redis"] = connection.info("server")["redis_version"]
        connection.close()
    return facts


def machine_line(facts: dict[str, Any]) -> str:
    """One sentence for the top of a results table (old result files lack some keys)."""
    parts = [
        f"{facts.get('cpu_count')} CPUs" + (f" ({facts['cpu_model']})" if facts.get("cpu_model") else "")
    ]
    load = facts.get("load_average") or facts.get("load_average_before") or facts.get("loadavg_at_start")
    if load:
        parts.append(f"load {float(load[0]):.1f} at start")
    parts.append(f"Python {facts.get('python') or facts.get('python_version')}")
    if facts.get("postgresql"):
        pg = f"PostgreSQL {str(facts['postgresql']).split()[0]}"
        settings = facts.get("postgresql_settings") or {}
        if settings:
            pg += f" (fsync {settings.get('fsync')}, synchronous_commit {settings.get('synchronous_commit')})"
        parts.append(pg)
    if facts.get("redis"):
        parts.append(f"Redis {facts['redis']}")
    commit = facts.get("commit") or (facts.get("code") or {}).get("commit")
    if commit:
        parts.append(f"code {commit[:7]}")
    return ", ".join(parts)


# ---------------------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    kept = list(values)
    return statistics.median(kept) if kept else float("nan")


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    return None if a is None or not b else round(a / b, digits)


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


# ---------------------------------------------------------------------------------------------------------
# Result files and the benchmark page
# ---------------------------------------------------------------------------------------------------------


def md_table(
    header: Sequence[str], rows: Iterable[Sequence[Any]], right: Sequence[bool] | None = None
) -> list[str]:
    """A markdown table; `right[i]` right-aligns column i (numbers)."""
    right = right or [i > 0 for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if r else "---" for r in right) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def output_dir(quick: bool, out: Path | None = None) -> Path:
    return out if out is not None else QUICK_DIR if quick else RESULTS_DIR


def read_results(name: str, directory: Path = RESULTS_DIR) -> dict | None:
    path = directory / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def publish(name: str, report: dict, markdown: str, directory: Path) -> Path:
    """Write `<directory>/<name>.json`; the committed results directory also gets its block in
    bench/README.md replaced, any other directory a `<name>.md` next to the JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    if directory.resolve() == RESULTS_DIR.resolve():
        if not replace_block(name, markdown):
            print(
                f"bench/README.md has no block markers for {name}; the page was not updated", file=sys.stderr
            )
    else:
        (directory / f"{name}.md").write_text(markdown + "\n")
    return path


def block_markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"


def replace_block(name: str, markdown: str, page: Path = README) -> bool:
    """Replace the text between the block markers of `name` in `page`; False if the page lacks them."""
    start, end = block_markers(name)
    content = page.read_text() if page.exists() else ""
    if start not in content or end not in content:
        return False
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{markdown.strip()}\n{end}{tail}")
    return True
