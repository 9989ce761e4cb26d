"""The account's routes: who a contact is, the blocklist, the own profile and privacy,
presence, chat settings, LIDs and calls. Each runs one declared engine action on the holder."""

from __future__ import annotations

import asyncio
from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Request, Response

from wagate.account.schemas import (
    AccountPresenceIn,
    BlocklistIn,
    BlocklistOut,
    ChatSettingsIn,
    ContactOut,
    ContactPictureOut,
    LidOut,
    PrivacyIn,
    PrivacyOut,
    ProfileIn,
    ProfileOut,
    ProfilePictureIn,
)
from wagate.auth.dependencies import InstancePrincipal
from wagate.db import utcnow
from wagate.engines.actions import REJECT_CALL
from wagate.engines.actions.account import (
    GET_BLOCKLIST,
    GET_CONTACT,
    GET_PICTURE,
    GET_PRIVACY,
    GET_PROFILE,
    LID_TO_PHONE,
    PHONE_TO_LID,
    SEND_PRESENCE,
    SET_PROFILE_PICTURE,
    SUBSCRIBE_PRESENCE,
    UPDATE_BLOCKLIST,
    UPDATE_CHAT,
    UPDATE_PRIVACY,
    UPDATE_PROFILE,
    BlocklistRequest,
    ChatSettings,
    ContactRef,
    LidMapping,
    LidRef,
    PresenceRequest,
    PrivacyUpdate,
    Profile,
    ProfilePictureRequest,
    ProfileUpdate,
)
from wagate.engines.base import IncomingCall
from wagate.errors import NotFound, ValidationFailed
from wagate.errors import error_responses as errors
from wagate.history.repository import store
from wagate.holder import on_holder
from wagate.images import to_jpeg_picture
from wagate.instances import service as instances
from wagate.messages import media
from wagate.node import HasDb, HasManager, HasSettings, get_node
from wagate.phones import InvalidRecipient, to_jid


class AccountNode(HasDb, HasManager, HasSettings, Protocol):
    """What the account routes use of the node: the instance's row, its client, the media
    limits."""


State = Annotated[AccountNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["account"])
ACTION_ERRORS = errors(404, 409, 422, 502)


def jid_field(value: str, field: str) -> str:
    """A phone number or JID as a JID, or a 422 naming the field."""
    try:
        return to_jid(value)
    except InvalidRecipient as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def lid_field(value: str) -> str:
    user, _, server = value.strip().partition("@")
    if server not in ("", "lid") or not user.isdigit() or len(user) > 32:
        raise ValidationFailed.field("lid", "a LID is digits, optionally with @lid")
    return f"{user}@lid"


def _profile(profile: Profile) -> ProfileOut:
    return ProfileOut(
        jid=profile.jid,
        phone=profile.phone,
        name=profile.name,
        about=profile.about,
        picture_url=profile.picture_url,
    )


def _lid(mapping: LidMapping) -> LidOut:
    return LidOut(lid=mapping.lid, jid=mapping.jid, phone=mapping.phone)


# --- contacts ----------------------------------------------------------------------------------


@router.get("/contacts/{contact}", response_model=ContactOut, responses=ACTION_ERRORS)
@on_holder
async def get_contact(
    instance: str, contact: str, request: Request, state: State, _: InstancePrincipal
) -> ContactOut:
    ref = ContactRef(jid_field(contact, "contact"))
    info = await instances.run_action(state, request.scope, instance, GET_CONTACT, ref)
    return ContactOut(
        jid=info.jid,
        phone=info.phone,
        lid=info.lid,
        name=info.name,
        push_name=info.push_name,
        business=info.business,
        business_name=info.business_name,
        about=info.about,
        picture_url=info.picture_url,
        on_whatsapp=info.on_whatsapp,
    )


@router.get(
    "/contacts/{contact}/picture", response_model=ContactPictureOut, responses=ACTION_ERRORS
)
@on_holder
async def get_contact_picture(
    instance: str, contact: str, request: Request, state: State, _: InstancePrincipal
) -> ContactPictureOut:
    ref = ContactRef(jid_field(contact, "contact"))
    found = await instances.run_action(state, request.scope, instance, GET_PICTURE, ref)
    if found is None:
        raise NotFound("the contact has no picture, or does not show it to this account")
    return ContactPictureOut(id=found.id, url=found.url)


@router.get("/contacts/{contact}/lid", response_model=LidOut, responses=ACTION_ERRORS)
@on_holder
async def get_contact_lid(
    instance: str, contact: str, request: Request, state: State, _: InstancePrincipal
) -> LidOut:
    jid = jid_field(contact, "contact")
    if not jid.endswith("@s.whatsapp.net"):
        raise ValidationFailed.field("contact", "a phone number or its JID")
    found = await instances.run_action(
        state, request.scope, instance, PHONE_TO_LID, ContactRef(jid)
    )
    return _lid(found)


@router.get("/lids/{lid}", response_model=LidOut, responses=ACTION_ERRORS)
@on_holder
async def get_lid(
    instance: str, lid: str, request: Request, state: State, _: InstancePrincipal
) -> LidOut:
    ref = LidRef(lid_field(lid))
    return _lid(await instances.run_action(state, request.scope, instance, LID_TO_PHONE, ref))


# --- blocklist ---------------------------------------------------------------------------------


@router.get("/blocklist", response_model=BlocklistOut, responses=ACTION_ERRORS)
@on_holder
async def get_blocklist(
    instance: str, request: Request, state: State, _: InstancePrincipal
) -> BlocklistOut:
    found = await instances.run_action(state, request.scope, instance, GET_BLOCKLIST, None)
    return BlocklistOut(contacts=found.contacts)


@router.post("/blocklist", response_model=BlocklistOut, responses=ACTION_ERRORS)
@on_holder
async def update_blocklist(
    instance: str, body: BlocklistIn, request: Request, state: State, _: InstancePrincipal
) -> BlocklistOut:
    jid = jid_field(body.contact, "contact")
    if not jid.endswith(("@s.whatsapp.net", "@lid")):
        raise ValidationFailed.field("contact", "only a person can be blocked")
    change = BlocklistRequest(action=body.action, contact=jid)
    found = await instances.run_action(state, request.scope, instance, UPDATE_BLOCKLIST, change)
    return BlocklistOut(contacts=found.contacts)


# --- own profile and privacy -------------------------------------------------------------------


@router.get("/profile", response_model=ProfileOut, responses=ACTION_ERRORS)
@on_holder
async def get_profile(
    instance: str, request: Request, state: State, _: InstancePrincipal
) -> ProfileOut:
    return _profile(await instances.run_action(state, request.scope, instance, GET_PROFILE, None))


@router.patch("/profile", response_model=ProfileOut, responses=ACTION_ERRORS)
@on_holder
async def update_profile(
    instance: str, body: ProfileIn, request: Request, state: State, _: InstancePrincipal
) -> ProfileOut:
    change = ProfileUpdate(name=body.name, about=body.about)
    return _profile(
        await instances.run_action(state, request.scope, instance, UPDATE_PROFILE, change)
    )


@router.put("/profile/picture", response_model=ProfileOut, responses=ACTION_ERRORS)
@on_holder
async def set_profile_picture(
    instance: str, body: ProfilePictureIn, request: Request, state: State, _: InstancePrincipal
) -> ProfileOut:
    settings = state.settings
    await instances.load(state, instance)  # an unknown instance is a 404 before any download
    loaded, _read = await media.load(
        "image", body.media, settings, None, limit=settings.max_media_bytes
    )
    jpeg = await asyncio.to_thread(to_jpeg_picture, loaded.data, settings.max_image_pixels, "media")
    change = ProfilePictureRequest(data=jpeg)
    return _profile(
        await instances.run_action(state, request.scope, instance, SET_PROFILE_PICTURE, change)
    )


@router.delete("/profile/picture", response_model=ProfileOut, responses=ACTION_ERRORS)
@on_holder
async def remove_profile_picture(
    instance: str, request: Request, state: State, _: InstancePrincipal
) -> ProfileOut:
    change = ProfilePictureRequest(data=None)
    return _profile(
        await instances.run_action(state, request.scope, instance, SET_PROFILE_PICTURE, change)
    )


@router.get("/privacy", response_model=PrivacyOut, responses=ACTION_ERRORS)
@on_holder
async def get_privacy(
    instance: str, request: Request, state: State, _: InstancePrincipal
) -> PrivacyOut:
    found = await instances.run_action(state, request.scope, instance, GET_PRIVACY, None)
    return PrivacyOut(**found.settings)


@router.patch("/privacy", response_model=PrivacyOut, responses=ACTION_ERRORS)
@on_holder
async def update_privacy(
    instance: str, body: PrivacyIn, request: Request, state: State, _: InstancePrincipal
) -> PrivacyOut:
    change = PrivacyUpdate(settings=body.changes())
    found = await instances.run_action(state, request.scope, instance, UPDATE_PRIVACY, change)
    return PrivacyOut(**found.settings)


# --- presence, chats, calls --------------------------------------------------------------------


@router.post("/presence", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def set_account_presence(
    instance: str, body: AccountPresenceIn, request: Request, state: State, _: InstancePrincipal
) -> Response:
    presence = PresenceRequest(state=body.state)
    await instances.run_action(state, request.scope, instance, SEND_PRESENCE, presence)
    return Response(status_code=204)


@router.post("/chats/{chat}/presence/subscribe", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def subscribe_presence(
    instance: str, chat: str, request: Request, state: State, _: InstancePrincipal
) -> Response:
    jid = jid_field(chat, "chat")
    if not jid.endswith(("@s.whatsapp.net", "@lid")):
        raise ValidationFailed.field("chat", "presence is a person's: give a contact")
    await instances.run_action(state, request.scope, instance, SUBSCRIBE_PRESENCE, ContactRef(jid))
    return Response(status_code=204)


@router.patch("/chats/{chat}", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def update_chat(
    instance: str,
    chat: str,
    body: ChatSettingsIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> Response:
    jid = jid_field(chat, "chat")
    given = body.model_fields_set
    if not given:
        raise ValidationFailed.field("archived", "give at least one setting to change")
    unmute = "muted_until" in given and body.muted_until is None
    if body.muted_until is not None:
        if body.muted_until.tzinfo is None:
            raise ValidationFailed.field("muted_until", "give a time zone (RFC 3339)")
        if body.muted_until <= utcnow():
            raise ValidationFailed.field("muted_until", "must be in the future")
    change = ChatSettings(
        chat=jid,
        archived=body.archived,
        pinned=body.pinned,
        muted_until=body.muted_until,
        unmute=unmute,
        disappearing_s=body.disappearing_s,
    )
    await instances.run_action(state, request.scope, instance, UPDATE_CHAT, change)
    # null means "unchanged" for the flags, "unmuted" for muted_until.
    shown = {
        key: getattr(body, key)
        for key in store.CHAT_STATE
        if key in given and (key == "muted_until" or getattr(body, key) is not None)
    }
    if shown:
        row = await instances.load(state, instance)
        async with state.db.transaction() as session:
            await store.set_chat_state(session, row.id, jid, shown)
    return Response(status_code=204)


@router.post("/calls/{call_id}/reject", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def reject_call(
    instance: str, call_id: str, request: Request, state: State, _: InstancePrincipal
) -> Response:
    if not call_id.isalnum() or len(call_id) > 64:
        raise ValidationFailed.field("call_id", "a call id is letters and digits")
    # The engine knows the caller of each call ringing on its connection.
    call = IncomingCall(call_id=call_id, caller="")
    await instances.run_action(state, request.scope, instance, REJECT_CALL, call)
    return Response(status_code=204)
