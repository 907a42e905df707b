"""JSON from outside (request bodies, other services' answers), read by one function.

`json.loads` raises `RecursionError`, not `ValueError`, for input nested deeper than the interpreter's
recursion limit (a 200 KB body of `[[[[...` is enough), and callers that catch `ValueError` for "not
JSON" let it through as a crash. Here every unreadable input is a `ValueError`.
"""

from __future__ import annotations

import json
from typing import Any


def parse_json(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    try:
        return json.loads(data, **kwargs)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
