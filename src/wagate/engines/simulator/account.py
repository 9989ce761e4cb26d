"""The simulated network's side of the account actions: profile, privacy, contacts,
blocklist, presence, calls, chat settings and LIDs.

What the phone keeps (profile, privacy, blocklist, chat settings, the contacts met) is in the
database, so a restarted gateway or another node sees the same account. What WhatsApp ties to
one connection (presence subscriptions, ringing calls) lives on the client and ends with it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Database, utcnow
from wagate.engines.actions import REJECT_CALL, handle
from wagate.engines.actions.account import (
    GET_BLOCKLIST,
    GET_CONTACT,
    GET_PICTURE,
    GET_PRIVACY,
    GET_PROFILE,
    LID_TO_PHONE,
    MAX_PINNED_CHATS,
    PHONE_TO_LID,
    PRIVACY_DEFAULTS,
    SEND_PRESENCE,
    SET_PROFILE_PICTURE,
    SUBSCRIBE_PRESENCE,
    UPDATE_BLOCKLIST,
    UPDATE_CHAT,
    UPDATE_PRIVACY,
    UPDATE_PROFILE,
    Blocklist,
    BlocklistRequest,
    ChatSettings,
    ContactInfo,
    ContactRef,
    LidMapping,
    LidRef,
    Picture,
    PresenceRequest,
    Privacy,
    PrivacyUpdate,
    Profile,
    ProfilePictureRequest,
    ProfileUpdate,
)
from wagate.engines.actions.spec import Handler
from wagate.engines.base import (
    BlocklistUpdate,
    ContactUpdate,
    IncomingCall,
    PermanentEngineError,
    PresenceUpdate,
)
from wagate.engines.simulator.network import on_whatsapp
from wagate.engines.simulator.presence import record_presence
from wagate.engines.simulator.repository import account as repository
from wagate.models import SimulatorAccount, SimulatorContact
from wagate.phones import phone_of
from wagate.repository import rows

if TYPE_CHECKING:
    from wagate.engines.simulator.engine import SimulatorClient

RINGING_CALLS = 100
PICTURE_URL = "https://pps.whatsapp.net/v/t61.24694-24/{id}.jpg"


def lid_of(phone: str) -> str:
    """The simulated network's LID for a number: stable, and telling nothing of the number."""
    digest = hashlib.sha256(f"wagate-simulator-lid:{phone}".encode()).digest()
    return f"{int.from_bytes(digest[:7], 'big') % 10**15:015d}@lid"


def new_picture_id() -> str:
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def picture(picture_id: str | None) -> Picture | None:
    return Picture(picture_id, PICTURE_URL.format(id=picture_id)) if picture_id else None


def picture_url(picture_id: str | None) -> str | None:
    return PICTURE_URL.format(id=picture_id) if picture_id else None


AccountState = tuple[set[str], dict[str, Any]]  # the blocked JIDs, the privacy settings set


async def read_accounts(db: Database, instance_ids: list[int]) -> list[AccountState]:
    """What each account's client keeps in memory while online, for many accounts at once."""
    async with db.session() as session:
        blocked = await repository.blocked_of(session, instance_ids)
        privacy = await repository.privacy_of(session, instance_ids)
    return [(blocked[i], privacy.get(i, {})) for i in instance_ids]


class SimulatedAccount:
    """One simulator client's account actions and what the other side does to it."""

    def __init__(self, client: SimulatorClient) -> None:
        self.client = client
        self.subscribed: set[str] = set()
        self.ringing: dict[str, IncomingCall] = {}
        self.available = False
        # Read at connect, so sends, inbound messages and receipts check them without a query.
        self.blocked: set[str] = set()
        self.read_receipts = True

    @property
    def _db(self) -> Database:
        return self.client.engine.db

    @property
    def _id(self) -> int:
        return self.client.instance.id

    def handlers(self) -> list[tuple[str, Handler]]:
        return [
            handle(GET_CONTACT, self.get_contact),
            handle(GET_PICTURE, self.get_picture),
            handle(GET_BLOCKLIST, self.get_blocklist),
            handle(UPDATE_BLOCKLIST, self.update_blocklist),
            handle(GET_PROFILE, self.get_profile),
            handle(UPDATE_PROFILE, self.update_profile),
            handle(SET_PROFILE_PICTURE, self.set_profile_picture),
            handle(GET_PRIVACY, self.get_privacy),
            handle(UPDATE_PRIVACY, self.update_privacy),
            handle(SEND_PRESENCE, self.send_presence),
            handle(SUBSCRIBE_PRESENCE, self.subscribe_presence),
            handle(UPDATE_CHAT, self.update_chat),
            handle(LID_TO_PHONE, self.lid_to_phone),
            handle(PHONE_TO_LID, self.phone_to_lid),
            handle(REJECT_CALL, self.reject_call),
        ]

    async def load(self) -> None:
        # Through the engine: the accounts of all clients coming online at once in one read.
        blocked, privacy = await self.client.engine.read_account(self._id)
        self.blocked = blocked
        self.read_receipts = {**PRIVACY_DEFAULTS, **privacy}["read_receipts"] != "none"

    def shows_read(self, chat: str) -> bool:
        """Whether a contact's phone tells this account it read a message: not in a 1:1 chat
        once the account turned its own read receipts off (WhatsApp makes it mutual; groups
        keep them)."""
        return self.read_receipts or chat.endswith("@g.us")

    def refuse_blocked(self, jid: str) -> None:
        if jid in self.blocked:
            raise PermanentEngineError(
                "the contact is blocked: unblock it to send", code="contact_blocked"
            )

    # --- contacts ----------------------------------------------------------------------------

    async def _contact(self, session: AsyncSession, jid: str) -> SimulatorContact | None:
        """The contact as the network knows it, met now if it was not yet (a number on
        WhatsApp), or None (not on WhatsApp, or a LID never met)."""
        row = await repository.contact(session, self._id, jid)
        if row is not None:
            return row
        if jid.endswith("@lid"):
            return await repository.contact_by_lid(session, self._id, jid)
        phone = phone_of(jid)
        if phone is None or not on_whatsapp(phone):
            return None
        return await repository.meet_contact(
            session, self._id, f"{phone}@s.whatsapp.net", lid_of(phone)
        )

    async def get_contact(self, request: ContactRef) -> ContactInfo:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._contact(session, request.contact)
            if row is None:
                return ContactInfo(
                    jid=request.contact, on_whatsapp=False, phone=phone_of(request.contact)
                )
            return ContactInfo(
                jid=row.jid,
                on_whatsapp=True,
                phone=phone_of(row.jid),
                lid=row.lid,
                push_name=row.push_name,
                business=row.business_name is not None,
                business_name=row.business_name,
                about=row.about,
                picture_url=picture_url(row.picture_id),
            )

    async def get_picture(self, request: ContactRef) -> Picture | None:
        self.client.require_connected()
        if request.contact == self.client.jid:
            async with self._db.transaction() as session:
                return picture((await self._account(session)).picture_id)
        async with self._db.transaction() as session:
            row = await self._contact(session, request.contact)
            return picture(row.picture_id if row else None)

    async def phone_to_lid(self, request: ContactRef) -> LidMapping:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._contact(session, request.contact)
            if row is None:
                raise PermanentEngineError("the number is not on WhatsApp", code="lid_not_found")
            return LidMapping(lid=row.lid, jid=row.jid, phone=phone_of(row.jid) or "")

    async def lid_to_phone(self, request: LidRef) -> LidMapping:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._contact(session, request.lid)
            if row is None:
                raise PermanentEngineError("no number is known for this LID", code="lid_not_found")
            return LidMapping(lid=row.lid, jid=row.jid, phone=phone_of(row.jid) or "")

    # --- blocklist ---------------------------------------------------------------------------

    async def get_blocklist(self, _: None) -> Blocklist:
        self.client.require_connected()
        async with self._db.session() as session:
            return Blocklist(await repository.blocklist(session, self._id))

    async def update_blocklist(self, request: BlocklistRequest) -> Blocklist:
        self.client.require_connected()
        jid = request.contact
        phone = phone_of(jid)
        if phone is not None and not on_whatsapp(phone):
            raise PermanentEngineError("the number is not on WhatsApp", code="not_on_whatsapp")
        changed = (jid in self.blocked) != (request.action == "block")
        async with self._db.transaction() as session:
            if request.action == "block" and changed:
                await repository.block(session, self._id, jid)
            elif changed:
                await repository.unblock(session, self._id, jid)
        if changed:
            if request.action == "block":
                self.blocked.add(jid)
                self.subscribed.discard(jid)
            else:
                self.blocked.discard(jid)
            # WhatsApp tells every device of the account, this one too.
            self.client.sink(BlocklistUpdate(jid, request.action, utcnow()))
        return await self.get_blocklist(None)

    # --- own profile and privacy -------------------------------------------------------------

    async def _account(self, session: AsyncSession) -> SimulatorAccount:
        return await repository.account(session, self._id)

    def _profile(self, row: SimulatorAccount) -> Profile:
        jid = self.client.jid or ""
        return Profile(jid, phone_of(jid), row.name, row.about, picture_url(row.picture_id))

    async def get_profile(self, _: None) -> Profile:
        self.client.require_connected()
        async with self._db.transaction() as session:
            return self._profile(await self._account(session))

    async def update_profile(self, request: ProfileUpdate) -> Profile:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._account(session)
            changes = {"name": request.name, "about": request.about}
            await rows.set_columns(
                session,
                row,
                **{name: value for name, value in changes.items() if value is not None},
            )
            return self._profile(row)

    async def set_profile_picture(self, request: ProfilePictureRequest) -> Profile:
        self.client.require_connected()
        if request.data is not None and not request.data.startswith(b"\xff\xd8"):
            raise PermanentEngineError("a profile picture must be a JPEG image")
        async with self._db.transaction() as session:
            row = await self._account(session)
            picture_id = new_picture_id() if request.data is not None else None
            await rows.set_columns(session, row, picture_id=picture_id)
            return self._profile(row)

    async def get_privacy(self, _: None) -> Privacy:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._account(session)
            return Privacy({**PRIVACY_DEFAULTS, **row.privacy})

    async def update_privacy(self, request: PrivacyUpdate) -> Privacy:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await self._account(session)
            await rows.set_columns(session, row, privacy={**row.privacy, **request.settings})
            settings = {**PRIVACY_DEFAULTS, **row.privacy}
        self.read_receipts = settings["read_receipts"] != "none"
        return Privacy(settings)

    # --- presence ----------------------------------------------------------------------------

    async def send_presence(self, request: PresenceRequest) -> None:
        self.client.require_connected()
        self.available = request.state == "available"
        record_presence(self.client, request.state)

    async def subscribe_presence(self, request: ContactRef) -> None:
        self.client.require_connected()
        self.subscribed.add(request.contact)

    # --- chats -------------------------------------------------------------------------------

    async def update_chat(self, request: ChatSettings) -> None:
        self.client.require_connected()
        async with self._db.transaction() as session:
            row = await repository.chat(session, self._id, request.chat)
            if request.pinned and not row.pinned:
                await self._check_pin_room(session)
            await rows.set_columns(session, row, **_changes(request))

    async def _check_pin_room(self, session: AsyncSession) -> None:
        if await repository.pinned_chats(session, self._id) >= MAX_PINNED_CHATS:
            raise PermanentEngineError(
                f"WhatsApp pins at most {MAX_PINNED_CHATS} chats: unpin one first",
                code="pin_limit",
            )

    # --- calls -------------------------------------------------------------------------------

    async def reject_call(self, call: IncomingCall) -> None:
        self.client.require_connected()
        # What the network was asked to reject, as it saw it (tests read it).
        self.client.engine.rejected_calls.setdefault(self.client.instance.id, []).append(
            call.call_id
        )
        ringing = self.ringing.pop(call.call_id, None)
        if ringing is None:
            if call.caller:
                return  # WhatsApp takes a reject of a call that stopped ringing and ignores it
            raise PermanentEngineError("no such call is ringing", code="call_not_found")
        self.client.sink(
            IncomingCall(ringing.call_id, ringing.caller, "rejected", ringing.video, utcnow())
        )

    # --- the other side ----------------------------------------------------------------------

    def contact_presence(self, contact: str, state: str, chat: str | None) -> bool:
        """A contact comes online, goes away, types or records: seen only when subscribed
        (and not blocked). Whether the event was delivered."""
        self.client.require_connected()
        if contact not in self.subscribed or contact in self.blocked:
            return False
        now = utcnow()
        last_seen = now if state == "unavailable" else None
        self.client.sink(PresenceUpdate(chat or contact, contact, state, now, last_seen))
        return True

    def call_offer(self, caller: str, video: bool) -> IncomingCall | None:
        """A contact calls; a blocked one never rings. The call, or None when dropped."""
        self.client.require_connected()
        if caller in self.blocked:
            return None
        call = IncomingCall(secrets.token_hex(16).upper(), caller, "offered", video, utcnow())
        self.ringing[call.call_id] = call
        while len(self.ringing) > RINGING_CALLS:
            self.ringing.pop(next(iter(self.ringing)))  # WhatsApp stops ringing after a minute
        self.client.sink(call)
        return call

    def call_ends(self, call_id: str, status: str) -> bool:
        """A ringing call is accepted on another device, or missed (the caller gave up)."""
        self.client.require_connected()
        call = self.ringing.pop(call_id, None)
        if call is None:
            return False
        self.client.sink(IncomingCall(call.call_id, call.caller, status, call.video, utcnow()))
        return True

    async def contact_changes(self, jid: str, changes: dict[str, Any]) -> bool:
        """A contact sets its push name, about or picture (`picture`: True sets a new one,
        False removes it). Whether the contact is on WhatsApp."""
        self.client.require_connected()
        event_changes: dict[str, Any] = {}
        async with self._db.transaction() as session:
            row = await self._contact(session, jid)
            if row is None:
                return False
            values: dict[str, Any] = {
                name: changes[name]
                for name in ("push_name", "about", "business_name")
                if name in changes
            }
            event_changes.update(values)
            if "picture" in changes:
                values["picture_id"] = new_picture_id() if changes["picture"] else None
                event_changes["picture"] = "set" if changes["picture"] else "removed"
            await rows.set_columns(session, row, **values)
        if event_changes and jid not in self.blocked:
            self.client.sink(ContactUpdate(jid, event_changes, utcnow()))
        return True


def _changes(request: ChatSettings) -> dict[str, Any]:
    """The chat's columns the request changes."""
    changes: dict[str, Any] = {}
    if request.archived is not None:
        changes["archived"] = request.archived
        if request.archived:
            changes["pinned"] = False  # WhatsApp unpins a chat it archives
    if request.pinned is not None:
        changes["pinned"] = request.pinned
    if request.unmute:
        changes["muted_until"] = None
    elif request.muted_until is not None:
        changes["muted_until"] = request.muted_until
    if request.disappearing_s is not None:
        changes["disappearing_s"] = request.disappearing_s
    return changes
