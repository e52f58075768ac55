"""Errors the services raise; the web layer turns each into a status code and a readable message."""
from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status_code = 404


class Conflict(ServiceError):
    """The thing changed under the user: task already completed, instance updated by someone else."""

    status_code = 409


class InvalidInput(ServiceError):
    """Form data that does not satisfy the form; ``field_errors`` maps field name -> message."""

    status_code = 400

    def __init__(self, field_errors: dict[str, str], message: str = "Some fields need attention"):
        super().__init__(message)
        self.field_errors = field_errors


class DeploymentFailed(ServiceError):
    status_code = 422

    def __init__(self, message: str, problems: list[dict] | None = None):
        super().__init__(message)
        self.problems = problems or []
