TEXTS: dict[str, dict[str, str]] = {}
