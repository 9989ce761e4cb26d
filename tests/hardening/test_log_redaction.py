"""Exceptions in the logs: a traceback, an exception's message and an exception passed as a
value are scrubbed like any other log text, for structlog and standard-library loggers (as
uvicorn's), in both log formats."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
import structlog

from tests.conftest import make_settings
from wagate.logs import configure_logging

TOKEN = "wgi_" + uuid.uuid4().hex + uuid.uuid4().hex
HOOK_SECRET = "whsec-" + uuid.uuid4().hex
URL_PASSWORD = "urlpw-" + uuid.uuid4().hex
BEARER = "opaque" + uuid.uuid4().hex  # a bearer credential of no format we know
SECRETS = [TOKEN, HOOK_SECRET, URL_PASSWORD, BEARER]


class DeliveryFailed(RuntimeError):
    pass


def _post(webhook: dict[str, Any], headers: dict[str, str]) -> None:
    raise ConnectionError(f"POST {webhook['url']} with {headers!r} refused")


def _deliver() -> None:
    """Fails with a chained exception: the cause's message carries the request's headers
    (a bearer credential, a token), the outer one the webhook's settings (a URL password
    and the secret), as a repr of a dict and as `key=value`."""
    webhook = {
        "url": f"https://hook:{URL_PASSWORD}@receiver.example/in",
        "secret": HOOK_SECRET,
        "events": None,
    }
    try:
        _post(webhook, {"Authorization": f"Bearer {BEARER}", "X-Api-Key": TOKEN})
    except ConnectionError as exc:
        raise DeliveryFailed(f"delivery failed: webhook={webhook!r} secret={HOOK_SECRET}") from exc


@pytest.fixture
def restore_logging() -> Any:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_secret_in_logged_exceptions(
    tmp_path: Any, log_format: str, capfd: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging(
        make_settings("sqlite://", tmp_path, log_level="debug", log_format=log_format)
    )
    log = structlog.get_logger("wagate.test")
    stdlib = logging.getLogger("uvicorn.error")
    try:
        _deliver()
    except DeliveryFailed as exc:
        log.exception("webhook delivery crashed")  # the traceback, with its cause
        log.error("webhook delivery failed", error=repr(exc), cause=repr(exc.__cause__))
        log.error("webhook delivery failed", error=exc, causes=[exc.__cause__])
        stdlib.exception("Exception in ASGI application")  # uvicorn's own words
        stdlib.error("delivery failed: %s", exc)
        stdlib.error("delivery failed: %r", exc, exc_info=True, stack_info=True)
    out, err = capfd.readouterr()
    text = out + err
    # The lines are there, tracebacks and all; only the secrets are gone.
    assert text.count("webhook delivery failed") == 2
    assert text.count("Traceback (most recent call last)") >= 3
    assert "DeliveryFailed" in text and "ConnectionError" in text
    assert "receiver.example" in text  # the URL is kept, its password is not
    for secret in SECRETS:
        assert secret not in text, f"{secret[:8]}… is in the logs:\n{text}"
