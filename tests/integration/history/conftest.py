"""The messaging tests' event collector, for the history's events too."""

from tests.integration.messaging.conftest import events_of

__all__ = ["events_of"]
