"""Every message kind is complete: a spec for the API, a builder in each engine, a place on the
dashboard's send form (and a method of the Python client: tests/clients/test_client_kinds.py).
A kind added to `Kind` and forgotten anywhere fails here."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import get_args

import pytest

from wagate.engines.simulator.engine import RECORDERS
from wagate.engines.whatsmeow.builders import BUILDERS
from wagate.instances.simulator_routes import INBOUND, INBOUND_KINDS, InboundIn
from wagate.message_kinds import KINDS, MEDIA_KINDS, TRAITS, VIEW_ONCE_KINDS, Kind
from wagate.messages.media import ACCEPTED
from wagate.messages.schemas import BODY_MODELS, SPECS, MediaBase

STATIC = Path(__file__).parents[2] / "src" / "wagate" / "dashboard" / "static"


def test_the_registry_derives_the_lists() -> None:
    assert list(SPECS) == list(Kind) and list(BODY_MODELS) == list(KINDS)
    assert set(TRAITS) == set(Kind)
    for kind in Kind:
        model = SPECS[kind].model
        assert issubclass(model, MediaBase) == (kind in MEDIA_KINDS), kind
        assert ("view_once" in model.model_fields) == (kind in VIEW_ONCE_KINDS), kind
    assert {"image", "video", "audio"} == VIEW_ONCE_KINDS
    assert set(ACCEPTED) == MEDIA_KINDS - {"document"}  # a document takes any type


def test_every_kind_has_an_engine_builder() -> None:
    assert set(BUILDERS) == set(Kind), "engines/whatsmeow/builders.py BUILDERS"
    assert set(RECORDERS) == set(Kind), "engines/simulator/engine.py RECORDERS"
    assert set(INBOUND) == set(INBOUND_KINDS), "instances/simulator_routes.py INBOUND"
    allowed = InboundIn.model_fields["kind"].annotation
    assert get_args(allowed) == tuple(kind.value for kind in INBOUND_KINDS)


class FormKinds(HTMLParser):
    """The send form's kind options and its blocks' `data-kinds`, by id where they have one."""

    def __init__(self) -> None:
        super().__init__()
        self.options: list[str] = []
        self.blocks: list[tuple[str | None, list[str]]] = []
        self._in_select = False
        self._in_option = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "select" and found.get("id") == "send-kind":
            self._in_select = True
        self._in_option = self._in_select and tag == "option"
        if found.get("data-kinds"):
            self.blocks.append((found.get("id"), str(found["data-kinds"]).split()))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._in_select = False
        self._in_option = False

    def handle_data(self, data: str) -> None:
        if self._in_option and data.strip():
            self.options.append(data.strip())


@pytest.fixture(scope="module")
def form() -> FormKinds:
    parser = FormKinds()
    parser.feed((STATIC / "index.html").read_text())
    return parser


def test_dashboard_offers_every_kind(form: FormKinds) -> None:
    assert form.options == list(KINDS)
    by_id = {block_id: kinds for block_id, kinds in form.blocks if block_id}
    # send.js reads these two lists from the page (kindsOf): declared once, here.
    assert set(by_id["send-media"]) == MEDIA_KINDS
    assert set(by_id["send-view-once"]) == VIEW_ONCE_KINDS
    for _, kinds in form.blocks:
        assert set(kinds) <= set(KINDS), kinds


def test_dashboard_builds_a_body_for_every_kind(form: FormKinds) -> None:
    """A media kind's body comes from the media block; every other kind has its fields and a
    `case` in send.js's switch (the default sends `to` alone, which no kind accepts)."""
    script = (STATIC / "send.js").read_text()
    cases = set(re.findall(r'case "([a-z_]+)":', script))
    assert 'kindsOf("send-media")' in script and 'kindsOf("send-view-once")' in script
    with_fields = {kind for _, kinds in form.blocks for kind in kinds}
    for kind in KINDS:
        if kind in MEDIA_KINDS:
            continue
        assert kind in cases, f"send.js has no case for {kind}"
        assert kind in with_fields, f"index.html has no fields for {kind}"
