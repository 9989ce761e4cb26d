"""The group routes (docs/api.md "Groups"): each runs a declared engine action on the holder."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import ValidationError

from wagate.auth.dependencies import InstancePrincipal
from wagate.engines.actions.groups import (
    ANSWER_REQUESTS,
    CREATE_GROUP,
    GET_GROUP,
    GROUP_INVITE,
    GROUP_REQUESTS,
    INVITE_INFO,
    JOIN_BY_INVITE,
    LEAVE_GROUP,
    LIST_GROUPS,
    SET_GROUP_PICTURE,
    UPDATE_GROUP,
    UPDATE_PARTICIPANTS,
    AnswerRequestsRequest,
    CreateGroupRequest,
    GroupInfo,
    GroupPictureRequest,
    GroupRef,
    InviteCode,
    InviteRequest,
    ParticipantResult,
    ParticipantsRequest,
    UpdateGroupRequest,
)
from wagate.engines.base import OutgoingMedia
from wagate.errors import ValidationFailed, error_responses, validation_details
from wagate.groups.schemas import (
    AnswerIn,
    CreatedGroupOut,
    CreateGroupIn,
    GroupListOut,
    GroupOut,
    InviteOut,
    JoinedOut,
    JoinRequestOut,
    JoinRequestsOut,
    ParticipantOut,
    ParticipantResultOut,
    ParticipantsIn,
    ResultsOut,
    UpdateGroupIn,
)
from wagate.holder import on_holder
from wagate.images import to_jpeg_picture
from wagate.instances import service as instances
from wagate.messages import media as media_io
from wagate.messages.routes import read_json, read_multipart
from wagate.messages.schemas import MediaIn
from wagate.node import HasDb, HasManager, HasSettings, get_node
from wagate.phones import InvalidRecipient, is_group_jid, phone_of, to_jid


class GroupsNode(HasDb, HasManager, HasSettings, Protocol):
    """What the group routes use of the node: the instance's row, its client, the media
    limits."""


State = Annotated[GroupsNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["groups"])
ACTION_ERRORS = error_responses(403, 404, 409, 502)
INVITE_CODE = re.compile(r"[A-Za-z0-9_-]{1,64}")
PAGE_MAX = 500
JSON_SLACK = 1024 * 1024


def group_jid(group: str) -> str:
    """The path's group, which must be a group JID (`…@g.us`)."""
    try:
        jid = to_jid(group)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("group", str(exc)) from exc
    if not is_group_jid(jid):
        raise ValidationFailed.field("group", "not a group JID (…@g.us)")
    return jid


def participant_jids(participants: list[str], field: str = "participants") -> list[str]:
    jids = []
    for index, participant in enumerate(participants):
        try:
            jid = to_jid(participant)
        except InvalidRecipient as exc:
            raise ValidationFailed.field(f"{field}.{index}", str(exc)) from exc
        if is_group_jid(jid):
            raise ValidationFailed.field(f"{field}.{index}", "a group is not a participant")
        jids.append(jid)
    return jids


def invite_code(code: str) -> str:
    if INVITE_CODE.fullmatch(code) is None:
        raise ValidationFailed.field("code", "not an invite code")
    return code


def group_out(info: GroupInfo) -> dict[str, Any]:
    return GroupOut(
        jid=info.jid,
        subject=info.subject,
        description=info.description,
        owner=info.owner,
        created_at=info.created_at,
        announce=info.announce,
        locked=info.locked,
        join_approval=info.join_approval,
        ephemeral_s=info.ephemeral_s,
        participants=[
            ParticipantOut(jid=p.jid, phone=p.phone or phone_of(p.jid), role=p.role)
            for p in info.participants
        ],
    ).model_dump()


def result_out(result: ParticipantResult) -> ParticipantResultOut:
    return ParticipantResultOut(
        jid=result.jid,
        phone=phone_of(result.jid),
        ok=result.ok,
        error=result.error,
        invited=result.invited,
    )


@router.post("/groups", status_code=201, response_model=CreatedGroupOut, responses=ACTION_ERRORS)
@on_holder
async def create_group(
    instance: str, body: CreateGroupIn, request: Request, state: State, _: InstancePrincipal
) -> CreatedGroupOut:
    create = CreateGroupRequest(
        subject=body.subject,
        participants=participant_jids(body.participants),
        description=body.description,
    )
    created = await instances.run_action(state, request.scope, instance, CREATE_GROUP, create)
    return CreatedGroupOut(
        **group_out(created.group), failed=[result_out(r) for r in created.failed]
    )


def after_cursor(cursor: str | None) -> str | None:
    """The cursor is the JID of the last group of the previous page (groups come by JID)."""
    if cursor is None:
        return None
    try:
        return group_jid(cursor)
    except ValidationFailed:
        raise ValidationFailed.field("cursor", "not a cursor this API gave") from None


@router.get("/groups", response_model=GroupListOut, responses=ACTION_ERRORS)
@on_holder
async def list_groups(
    instance: str,
    request: Request,
    state: State,
    _: InstancePrincipal,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> GroupListOut:
    after = after_cursor(cursor)
    groups = await instances.run_action(state, request.scope, instance, LIST_GROUPS, None)
    ordered = sorted((g for g in groups if after is None or g.jid > after), key=lambda g: g.jid)
    page = ordered[:limit]
    more = len(ordered) > limit
    return GroupListOut(
        groups=[GroupOut(**group_out(g)) for g in page],
        next_cursor=page[-1].jid if more and page else None,
    )


# Registered before /groups/{group}: "invites" is not a group JID.
@router.get("/groups/invites/{code}", response_model=GroupOut, responses=ACTION_ERRORS)
@on_holder
async def invite_info(
    instance: str, code: str, request: Request, state: State, _: InstancePrincipal
) -> GroupOut:
    ask = InviteCode(invite_code(code))
    info = await instances.run_action(state, request.scope, instance, INVITE_INFO, ask)
    return GroupOut(**group_out(info))


@router.post("/groups/invites/{code}/join", response_model=JoinedOut, responses=ACTION_ERRORS)
@on_holder
async def join_by_invite(
    instance: str, code: str, request: Request, state: State, _: InstancePrincipal
) -> JoinedOut:
    ask = InviteCode(invite_code(code))
    joined = await instances.run_action(state, request.scope, instance, JOIN_BY_INVITE, ask)
    return JoinedOut(group=joined.group)


@router.get("/groups/{group}", response_model=GroupOut, responses=ACTION_ERRORS)
@on_holder
async def get_group(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> GroupOut:
    ref = GroupRef(group_jid(group))
    info = await instances.run_action(state, request.scope, instance, GET_GROUP, ref)
    return GroupOut(**group_out(info))


@router.patch("/groups/{group}", response_model=GroupOut, responses=ACTION_ERRORS)
@on_holder
async def update_group(
    instance: str,
    group: str,
    body: UpdateGroupIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> GroupOut:
    change = UpdateGroupRequest(group=group_jid(group), **body.model_dump(exclude_unset=True))
    info = await instances.run_action(state, request.scope, instance, UPDATE_GROUP, change)
    return GroupOut(**group_out(info))


PICTURE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": MediaIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


async def read_picture(request: Request, state: GroupsNode) -> bytes:
    """The picture as in a send of an image (`url` or `base64` in JSON, or a part `file`),
    made the JPEG square WhatsApp keeps."""
    loaded = await _picture_media(request, state)
    max_pixels = state.settings.max_image_pixels
    return await asyncio.to_thread(to_jpeg_picture, loaded.data, max_pixels, "picture")


async def _picture_media(request: Request, state: GroupsNode) -> OutgoingMedia:
    settings = state.settings
    limit = settings.max_media_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        fields, upload = await read_multipart(request, limit)
        if fields:
            raise ValidationFailed.field(next(iter(fields)), "only a part 'file' is read")
        if upload is None or not upload.data:
            raise ValidationFailed.field("file", "give the picture as a part 'file'")
        return await media_io.finish(
            "image",
            upload.data,
            upload.mimetype,
            None,
            "file",
            max_pixels=settings.max_image_pixels,
        )
    payload = await read_json(request, limit * 4 // 3 + JSON_SLACK)
    try:
        media = MediaIn.model_validate(payload)
    except ValidationError as exc:
        details = validation_details(list(exc.errors()))
        raise ValidationFailed("the request is not valid", details=details) from exc
    loaded, _ = await media_io.load("image", media, settings, None, limit=limit)
    return loaded


@router.put(
    "/groups/{group}/picture",
    status_code=204,
    responses=ACTION_ERRORS | error_responses(413),
    openapi_extra=PICTURE_BODY,
)
@on_holder
async def set_group_picture(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> Response:
    jid = group_jid(group)
    picture = await read_picture(request, state)
    change = GroupPictureRequest(group=jid, data=picture, mimetype="image/jpeg")
    await instances.run_action(state, request.scope, instance, SET_GROUP_PICTURE, change)
    return Response(status_code=204)


@router.delete("/groups/{group}/picture", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def remove_group_picture(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> Response:
    change = GroupPictureRequest(group=group_jid(group), data=None)
    await instances.run_action(state, request.scope, instance, SET_GROUP_PICTURE, change)
    return Response(status_code=204)


@router.post("/groups/{group}/participants", response_model=ResultsOut, responses=ACTION_ERRORS)
@on_holder
async def update_participants(
    instance: str,
    group: str,
    body: ParticipantsIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ResultsOut:
    change = ParticipantsRequest(
        group=group_jid(group), action=body.action, participants=participant_jids(body.participants)
    )
    results = await instances.run_action(
        state, request.scope, instance, UPDATE_PARTICIPANTS, change
    )
    return ResultsOut(results=[result_out(r) for r in results])


@router.get("/groups/{group}/requests", response_model=JoinRequestsOut, responses=ACTION_ERRORS)
@on_holder
async def join_requests(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> JoinRequestsOut:
    ref = GroupRef(group_jid(group))
    pending = await instances.run_action(state, request.scope, instance, GROUP_REQUESTS, ref)
    return JoinRequestsOut(
        requests=[
            JoinRequestOut(jid=r.jid, phone=r.phone or phone_of(r.jid), requested_at=r.requested_at)
            for r in pending
        ]
    )


@router.post("/groups/{group}/requests", response_model=ResultsOut, responses=ACTION_ERRORS)
@on_holder
async def answer_requests(
    instance: str,
    group: str,
    body: AnswerIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ResultsOut:
    answer = AnswerRequestsRequest(
        group=group_jid(group), action=body.action, participants=participant_jids(body.participants)
    )
    results = await instances.run_action(state, request.scope, instance, ANSWER_REQUESTS, answer)
    return ResultsOut(results=[result_out(r) for r in results])


@router.get("/groups/{group}/invite", response_model=InviteOut, responses=ACTION_ERRORS)
@on_holder
async def group_invite(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> InviteOut:
    ask = InviteRequest(group=group_jid(group))
    link = await instances.run_action(state, request.scope, instance, GROUP_INVITE, ask)
    return InviteOut(code=link.code, url=link.url)


@router.post("/groups/{group}/invite/revoke", response_model=InviteOut, responses=ACTION_ERRORS)
@on_holder
async def revoke_invite(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> InviteOut:
    ask = InviteRequest(group=group_jid(group), reset=True)
    link = await instances.run_action(state, request.scope, instance, GROUP_INVITE, ask)
    return InviteOut(code=link.code, url=link.url)


@router.post("/groups/{group}/leave", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def leave_group(
    instance: str, group: str, request: Request, state: State, _: InstancePrincipal
) -> Response:
    ref = GroupRef(group_jid(group))
    await instances.run_action(state, request.scope, instance, LEAVE_GROUP, ref)
    return Response(status_code=204)
