"""The group actions through a real engine host: each crosses the IPC by its declared name and
types, and a client that is not linked refuses every one as not connected (the API's 409)."""

from __future__ import annotations

import pytest

from tests.contract.engine_contract import SAMPLES
from wagate.engine_failures import status_of
from wagate.engines.actions import Action, groups
from wagate.engines.base import NotConnectedError
from wagate.engines.whatsmeow.engine import WhatsmeowClient
from wagate.engines.whatsmeow.supervisor import EngineHost

pytestmark = pytest.mark.e2e

GROUP_ACTIONS = [value for value in vars(groups).values() if isinstance(value, Action)]


async def test_group_actions_of_an_unlinked_client_are_not_connected(
    started: tuple[WhatsmeowClient, EngineHost],
) -> None:
    client, host = started
    assert host.alive and len(GROUP_ACTIONS) >= 12
    for action in GROUP_ACTIONS:
        with pytest.raises(NotConnectedError) as failure:
            await client.call(action, SAMPLES[action.name])
        assert failure.value.code == "instance_not_connected", action.name
        assert status_of(failure.value.code) == 409
    assert host.alive  # refused by the session, nothing reached Go
