"""Domain errors. Each names the offending field and says what is wrong; none knows about HTTP.

The web layer (`bot/http_errors.py`) decides what a kind of error means to a client; the CLI prints it.
"""


class DomainError(Exception):
    """A request the domain refuses; nothing was written."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Invalid(DomainError):
    """The request breaks a rule of its own (a bad value, a missing part)."""


class NotFound(DomainError):
    """The request names something that does not exist."""


class Conflict(DomainError):
    """The request does not fit the current state (already done, no longer possible)."""


class Unavailable(DomainError):
    """A service the domain depends on did not answer clearly; nothing changed, try again later."""
