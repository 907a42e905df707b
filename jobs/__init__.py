"""RQ jobs: thin wrappers that turn the queue and the clock into `core` calls."""
