"""The Python client has a send method for every message kind, with the kind's options."""

from __future__ import annotations

import inspect
from typing import get_args

import pytest
from wagate_client import AsyncWagateClient, WagateClient
from wagate_client._routes import SendKind

from wagate.message_kinds import KINDS, VIEW_ONCE_KINDS


@pytest.mark.parametrize("client", [WagateClient, AsyncWagateClient])
def test_python_client_sends_every_kind(client: type) -> None:
    assert get_args(SendKind) == KINDS
    for kind in KINDS:
        method = getattr(client, f"send_{kind}", None)
        assert method is not None, f"{client.__name__} has no send_{kind}"
        parameters = inspect.signature(method).parameters
        assert ("view_once" in parameters) == (kind in VIEW_ONCE_KINDS), (client, kind)
