"""The API's error body as an exception: `{"error": {code, message, details}}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class WagateError(Exception):
    """An error answer of the gateway (or a transport failure, with `status` 0).

    `code` is the API's error code (`not_found`, `validation_error`, …); subclasses exist for
    the common ones, so both `except NotFoundError` and `if exc.code == "not_found"` work.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        self.retry_after = retry_after

    @property
    def correlation_id(self) -> str | None:
        """The send's id, on a failed sync send (the message may still go on asynchronously)."""
        value = self.details.get("correlation_id")
        return value if isinstance(value, str) else None


class UnauthorizedError(WagateError):
    pass


class ForbiddenError(WagateError):
    pass


class NotFoundError(WagateError):
    pass


class ValidationError(WagateError):
    pass


class NotGroupAdminError(ForbiddenError):
    """A group action only the group's admins may do."""


class GroupNotFoundError(NotFoundError):
    """A group the instance is not in (unknown, left or removed from)."""


class InviteNotFoundError(NotFoundError):
    """An invite code that leads nowhere (unknown or revoked)."""


class ConflictError(WagateError):
    pass


class InstanceNotConnectedError(ConflictError):
    pass


class NotPairingError(ConflictError):
    pass


class NotOnWhatsAppError(WagateError):
    pass


class PayloadTooLargeError(WagateError):
    pass


class RateLimitedError(WagateError):
    pass


class EngineError(WagateError):
    pass


class SendTimeoutError(WagateError):
    pass


class UnavailableError(WagateError):
    pass


ERRORS_BY_CODE: dict[str, type[WagateError]] = {
    "unauthorized": UnauthorizedError,
    "forbidden": ForbiddenError,
    "not_found": NotFoundError,
    "not_group_admin": NotGroupAdminError,
    "group_not_found": GroupNotFoundError,
    "invite_not_found": InviteNotFoundError,
    "validation_error": ValidationError,
    "conflict": ConflictError,
    "instance_not_connected": InstanceNotConnectedError,
    "not_pairing": NotPairingError,
    "not_on_whatsapp": NotOnWhatsAppError,
    "payload_too_large": PayloadTooLargeError,
    "rate_limited": RateLimitedError,
    "engine_error": EngineError,
    "send_timeout": SendTimeoutError,
    "unavailable": UnavailableError,
}
# A code of its own (edit_window_passed, message_not_found, poll_option_unknown, …) still
# gets the class of its status, so `except ConflictError` catches every 409.
ERRORS_BY_STATUS: dict[int, type[WagateError]] = {
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}


def error_from_response(status: int, body: Any, headers: Mapping[str, str]) -> WagateError:
    """The exception for an error answer; a body that is not the API's error shape (a proxy's
    page, say) still gives a WagateError, with a code made from the status."""
    retry_after: float | None = None
    raw_retry = headers.get("retry-after")
    if raw_retry is not None:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("code"), str):
        code: str = error["code"]
        message = str(error.get("message", ""))
        details = error.get("details")
        cls = ERRORS_BY_CODE.get(code) or ERRORS_BY_STATUS.get(status, WagateError)
        return cls(
            status,
            code,
            message,
            details if isinstance(details, dict) else None,
            retry_after=retry_after,
        )
    text = body if isinstance(body, str) else ""
    return WagateError(status, f"http_{status}", text[:200] or f"HTTP {status}", None)
