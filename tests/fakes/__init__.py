"""In-process fakes of external services, driven through the real client libraries."""
