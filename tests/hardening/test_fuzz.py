"""Schemathesis against a real `wagate serve`: with the admin token and with an instance
token, no input gives a 500, every answer is one the OpenAPI document lists with the schema
it gives, and every error carries the API.md body. With a wrong token, every `/v1/` answer
is API.md's 401, whatever the body.

The number of examples per operation is WAGATE_FUZZ_EXAMPLES (default 5); docs/hardening.md
has the long run."""

from __future__ import annotations

import json
import os
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hardening.processes import Node, admin_client, linked
from wagate.app import create_app
from wagate.config import Settings
from wagate.messages.schemas import BODY_MODELS, MEDIA_KINDS

EXAMPLES = int(os.environ.get("WAGATE_FUZZ_EXAMPLES", "5"))
SEND_OPERATION = re.compile(r"^POST /v1/instances/\{instance\}/send/\w+$")


def _openapi() -> dict[str, Any]:
    app = create_app(Settings(_env_file=None, database_url="sqlite+aiosqlite://"))  # type: ignore[call-arg]
    return app.openapi()


# The document is built from the app itself (no server needed to collect the tests); a test
# below checks that the running node serves the same document at /openapi.json.
# /events is an endless Server-Sent Events stream that a request-response fuzzer cannot read
# to its end; test_access_matrix and the SSE tests cover it.
schema = schemathesis.openapi.from_dict(_openapi()).exclude(path_regex=r"/events$")


def error_body_check(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx/5xx is {"error": {"code", "message", "details"}} (API.md "Errors")."""
    if response.status_code < 400:
        return None
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(
            f"{response.status_code} without a JSON body: {response.text[:200]}"
        ) from exc
    error = body.get("error") if isinstance(body, dict) else None
    assert isinstance(error, dict), f"no error object: {body}"
    assert isinstance(error.get("code"), str) and error["code"], body
    assert isinstance(error.get("message"), str), body
    assert isinstance(error.get("details"), dict), body
    assert set(body) == {"error"}, body
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    error_body_check,
]


class Target:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.name = f"fz-{uuid.uuid4().hex[:8]}"
        with admin_client(node.url) as http:
            self.token = linked(http, self.name)
        # What the fuzzer sent to this operation: (media type or "none", status) -> calls.
        self.calls: Counter[tuple[str, int]] = Counter()

    def record(self, case: Any, status: int) -> None:
        has_body = case.body is not NOT_SET and case.body is not None
        self.calls[(case.media_type if has_body else "none", status)] += 1

    def check_send_operation(self, label: str) -> None:
        """A send operation must have been fuzzed with bodies of each media type its
        document lists, and some of them must have been accepted (2xx): otherwise the
        document describes no usable body and the fuzzer never got past validation."""
        operation = schema[label.split(" ", 1)[1]][label.split(" ", 1)[0]]
        declared = set(operation.definition.raw["requestBody"]["content"])
        sent = Counter(media for media, _ in self.calls.elements())
        summary = dict(self.calls)
        for media in declared:
            assert sent[media] >= min(EXAMPLES, 3), f"{label}: {media} bodies: {summary}"
        assert any(200 <= status < 300 for _, status in self.calls), f"{label}: {summary}"


@pytest.fixture
def target(fuzz_node: Node, request: pytest.FixtureRequest) -> Iterator[Target]:
    found = Target(fuzz_node)
    yield found
    with admin_client(fuzz_node.url) as http:
        http.delete(f"/v1/instances/{found.name}")
    label = request.node.name.partition("[")[2].rstrip("]")
    # With a wrong token no send is accepted: that run checks the 401s instead.
    if SEND_OPERATION.match(label) and not request.node.name.startswith("test_fuzz_wrong_token"):
        found.check_send_operation(label)


def test_the_node_serves_the_fuzzed_document(fuzz_node: Node) -> None:
    served = httpx.get(f"{fuzz_node.url}/openapi.json", timeout=10).json()
    assert served == schema.raw_schema


def unauthorized_check(ctx: Any, response: Any, case: Any) -> bool | None:
    """With a wrong token, every `/v1/` operation answers 401 unauthorized (API.md "Auth"):
    nothing of the request is looked at before its token."""
    if not case.path.startswith("/v1/"):
        return None
    assert response.status_code == 401, f"{response.status_code}: {response.text[:200]}"
    assert json.loads(response.content)["error"]["code"] == "unauthorized", response.text
    return True


# Headers that frame the HTTP message itself: a made-up value is refused by the HTTP server
# (400, plain text) before any route sees the request, which is the server's job, not the API's.
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection"}


def run_case(case: Any, target: Target, token: str, checks: list[Any] = CHECKS) -> None:
    if "instance" in (case.path_parameters or {}):
        case.path_parameters["instance"] = target.name
    if case.headers:
        for name in [name for name in case.headers if name.lower() in FRAMING_HEADERS]:
            del case.headers[name]
    response = case.call_and_validate(
        base_url=target.node.url,
        headers={"Authorization": f"Bearer {token}"},
        checks=checks,
        timeout=30,
    )
    target.record(case, response.status_code)


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=os.environ.get("WAGATE_FUZZ_RANDOM") != "1",
)


@schema.parametrize()
@FUZZ
def test_fuzz_admin(case: Any, target: Target) -> None:
    from tests.conftest import ADMIN_TOKEN

    run_case(case, target, ADMIN_TOKEN)


@schema.parametrize()
@FUZZ
def test_fuzz_instance_token(case: Any, target: Target) -> None:
    run_case(case, target, target.token)


@schema.parametrize()
@FUZZ
def test_fuzz_wrong_token(case: Any, target: Target) -> None:
    run_case(case, target, "wgi_" + "x" * 43, [*CHECKS, unauthorized_check])


def test_the_document_declares_every_send_body() -> None:
    paths = schema.raw_schema["paths"]
    for kind, model in BODY_MODELS.items():
        body = paths[f"/v1/instances/{{instance}}/send/{kind}"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model.__name__}"
        }
        assert ("multipart/form-data" in body["content"]) == (kind in MEDIA_KINDS)
    batch = schema.raw_schema["components"]["schemas"]["BatchIn"]
    assert len(batch["properties"]["messages"]["items"]["oneOf"]) == len(BODY_MODELS)
