"""Actions on contacts: which numbers are on WhatsApp."""

from __future__ import annotations

from dataclasses import dataclass

from wagate.engines.actions.spec import Action, declare
from wagate.engines.base import NumberCheck


@dataclass(frozen=True, slots=True)
class CheckNumbersRequest:
    phones: list[str]  # digits only, country code first


CHECK_NUMBERS: Action[CheckNumbersRequest, list[NumberCheck]] = declare(
    "check_numbers",
    CheckNumbersRequest,
    list[NumberCheck],
    "Which of the phone numbers are on WhatsApp, with their JIDs.",
)
