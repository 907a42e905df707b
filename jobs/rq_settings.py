"""Settings module for `rq worker -c jobs.rq_settings` and `rq cron -c jobs.rq_settings`.

The Redis URL comes from the same place as everywhere else: REDIS_URL, or the embedded Redis.
"""

from core.settings import Settings

REDIS_URL = Settings.from_env().effective_redis_url
