"""Settings module for `rq worker -c jobs.rq_settings` and `rq cron -c jobs.rq_settings`.

The Redis URL comes from the same place as everywhere else: REDIS_URL, or the embedded Redis. The job
modules are imported here, once, by the worker itself: each job runs in a fork of the worker, which then
starts with everything loaded instead of importing the app again for every job.
"""

import jobs.expiry  # noqa: F401 - preloaded for the work horses
import jobs.send  # noqa: F401
from core.settings import Settings

REDIS_URL = Settings.from_env().effective_redis_url
