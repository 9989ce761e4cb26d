"""Structured logging (structlog over the standard library), console or one JSON object a line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from wagate.config import Settings

# A log field named for a proxy holds its URL, credentials and all.
SECRET_KEYS = re.compile(r"token|secret|authorization|api_key|password|signature|proxy", re.I)
# Our own token formats, credentials in HTTP headers, credentials inside URLs
# (scheme://user:password@host, the user name too: a proxy's may be an account id), and
# `key=value` / `"key": "value"` pairs whose key names a secret: what exception messages,
# reprs and tracebacks carry (a request's headers, a webhook's settings dict, a connection URL).
_KEY_NAMES = r"[\w.-]*(?:token|secret|passw(?:or)?d|api[_-]?key|authorization|signature)[\w.-]*"
SECRET_PATTERNS = (
    (re.compile(r"\bwg[ai]_[A-Za-z0-9_\-]{8,}"), "wg?_[redacted]"),
    (re.compile(r"(://)[^/@\s]+@"), r"\1[redacted]@"),
    (re.compile(r"\b([Bb]earer\s+)[A-Za-z0-9._~+/=\-]{4,}"), r"\1[redacted]"),
    (re.compile(r"\b(Basic\s+)[A-Za-z0-9+/]{8,}={0,2}"), r"\1[redacted]"),
    (
        re.compile(
            rf"""(\b{_KEY_NAMES}["']?\s*[:=]\s*)"""
            r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s"',;&)\]}]+)""",
            re.I,
        ),
        r"\1'[redacted]'",
    ),
)
# Cheap test before the patterns: most log text names no secret at all.
_HINT = re.compile(r"wg[ai]_|://|bearer|basic|token|secret|passw|api.?key|authoriz|signature", re.I)
_PLAIN = (int, float, bool, type(None))


def scrub_text(text: str) -> str:
    if not _HINT.search(text):
        return text
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, _PLAIN):
        return value
    if depth < 4 and isinstance(value, dict):
        return {
            k: "[redacted]"
            if SECRET_KEYS.search(str(k)) and v is not None
            else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if depth < 4 and isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item, depth + 1) for item in value]
    # An exception (or any object) passed as a value: the renderer would print its repr,
    # message and all, unscrubbed.
    return scrub_text(repr(value))


def redact_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: no token, secret or password reaches a log line. Runs after the
    traceback is rendered to text (`exception`), so tracebacks are scrubbed too."""
    for key, value in list(event.items()):
        if key == "_record" or key == "_from_structlog":
            continue  # the stdlib record ProcessorFormatter carries along (not rendered)
        if SECRET_KEYS.search(key) and value is not None:
            event[key] = "[redacted]"
        elif key == "exc_info":
            continue  # rendered to `exception` by format_exc_info before this runs
        else:
            event[key] = _scrub(value)
    return event


def configure_logging(settings: Settings) -> None:
    level = getattr(logging, settings.log_level.upper())
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks and stacks become text here, before the redaction, which scrubs them
        # like any other value. The renderers then print that text: plain tracebacks, never
        # `rich`'s, which would show every frame's local variables (tokens, passwords,
        # bodies) and take long enough to stall the event loop when errors come in bursts.
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: structlog.types.Processor
    if settings.log_format == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    structlog.configure(
        # filter_by_level first: a debug line of a busy path (a webhook post) otherwise ran
        # every processor (time stamp, redaction) before the standard library dropped it.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    root = logging.getLogger()
    # force: a library (neonize) may have installed its own root handler at import.
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("uvicorn.access", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
