"""Actions on the account's own presence: online or offline to its contacts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from wagate.engines.actions.spec import Action, declare

PresenceState = Literal["available", "unavailable"]


@dataclass(frozen=True, slots=True)
class PresenceRequest:
    state: PresenceState


SEND_PRESENCE: Action[PresenceRequest, None] = declare(
    "send_presence",
    PresenceRequest,
    None,
    "Show the account online (available) or offline (unavailable) to its contacts.",
)
