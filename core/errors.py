"""Domain errors that carry the offending field, so the admin API can name it in a 4xx."""


class DomainError(Exception):
    """A request the domain refuses; nothing was written."""

    status = 422

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409
