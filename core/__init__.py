"""Laku Grosir domain: models, allocation rule, services. Knows nothing of HTTP or queues."""
