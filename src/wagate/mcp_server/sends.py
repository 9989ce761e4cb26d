"""One send tool per message kind, derived from the kind's request model (`BODY_MODELS`):
its arguments are the model's fields, with their types, limits and descriptions, so a new
kind gets its tool, and a new field its argument, with nothing written here."""

from __future__ import annotations

import inspect
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from wagate.mcp_server.common import WRITE, GatewayOf, Instance, base, segment
from wagate.messages.schemas import BODY_MODELS

Wait = Annotated[
    bool,
    Field(description="true: answer once WhatsApp took the message; false: answer when queued"),
]
Idempotency = Annotated[
    str | None,
    Field(
        max_length=255,
        description="the same key on the same instance within 24 h sends nothing again",
    ),
]
# An annotation built at run time from a model's field (a type checker takes only literal ones).
_ANNOTATED: Any = Annotated

DESCRIPTIONS = {
    "to": "the recipient: a phone number in international form, or a JID (…@g.us: a group)",
    "reply_to": "the message_id of a message of the chat to quote",
    "mentions": "phone numbers mentioned (their @ in the text)",
    "media": 'the file: {"url": "https://…"} or {"base64": "…", "mimetype": "…"}',
}


def send_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    for kind, model in BODY_MODELS.items():
        server.add_tool(
            _tool(kind, model, gateway_of),
            name=f"send_{kind}",
            description=f"Send a {kind} message from an instance.",
            annotations=WRITE,
        )


def _tool(kind: str, model: type[BaseModel], gateway_of: GatewayOf) -> Any:
    async def send(**arguments: Any) -> dict[str, Any]:
        ctx, instance = arguments.pop("ctx"), arguments.pop("instance")
        wait, key = arguments.pop("wait"), arguments.pop("idempotency_key")
        # Fields left out are left to the API's defaults, as in any other client's request.
        body = to_jsonable_python(
            {name: value for name, value in arguments.items() if value is not None},
            exclude_none=True,
        )
        result: dict[str, Any] = await gateway_of(ctx).call(
            "POST",
            f"{base(instance)}/send/{segment(kind)}",
            json=body,
            params={"async": not wait},
            headers={"idempotency-key": key} if key else None,
        )
        return result

    parameters = [
        _parameter("instance", Instance),
        *(_field(name, info) for name, info in _required_first(model)),
        _parameter("wait", Wait, True),
        _parameter("idempotency_key", Idempotency, None),
        _parameter("ctx", Context[Any, Any]),
    ]
    # The SDK reads a tool's arguments from its signature and its type hints.
    send.__signature__ = inspect.Signature(parameters, return_annotation=dict[str, Any])  # type: ignore[attr-defined]
    send.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": dict[str, Any]}
    send.__name__ = f"send_{kind}"
    return send


def _required_first(model: type[BaseModel]) -> list[tuple[str, FieldInfo]]:
    fields = list(model.model_fields.items())
    return sorted(fields, key=lambda item: not item[1].is_required())


def _field(name: str, info: FieldInfo) -> inspect.Parameter:
    description = DESCRIPTIONS.get(name, info.description)
    annotation = _ANNOTATED[(info.annotation, *info.metadata, Field(description=description))]
    if info.is_required():
        return _parameter(name, annotation)
    default = None if info.default is PydanticUndefined else info.default
    return _parameter(name, annotation, default)


def _parameter(name: str, annotation: Any, *default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        annotation=annotation,
        default=default[0] if default else inspect.Parameter.empty,
    )
