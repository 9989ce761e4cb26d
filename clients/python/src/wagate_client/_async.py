"""AsyncWagateClient: the API over httpx.AsyncClient. Its methods mirror WagateClient's one
for one (a test checks it); both build their requests from wagate_client._routes."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from wagate_client import _routes as routes
from wagate_client._routes import (
    AccountPresence,
    BlockAction,
    Call,
    DeliveryStatusName,
    EventName,
    InstanceStatusName,
    MediaLike,
    MessageStatusName,
    ParticipantAction,
    PinDuration,
    PresenceState,
    RequestAnswer,
    RevokeFor,
    SendOptions,
    SinkName,
)
from wagate_client._transport import (
    DEFAULT_TIMEOUT,
    auth_headers,
    error_of,
    finish,
    request_args,
    transport_error,
)
from wagate_client.events import Event, SSEDecoder
from wagate_client.models import (
    ActionResult,
    BatchItem,
    Chat,
    ChatPage,
    Cluster,
    Contact,
    ContactCheck,
    ContactPage,
    CreatedInstance,
    DeadLetter,
    DeadLetterPage,
    Delivery,
    DeliveryPage,
    Faults,
    Group,
    GroupPage,
    HistoryPage,
    Instance,
    InstancePage,
    InviteLink,
    JoinRequest,
    LidMapping,
    Media,
    MessagePage,
    MessageRecord,
    OutboxMessage,
    ParticipantResult,
    Profile,
    ProfilePicture,
    QrCode,
    Readiness,
    RetriedAll,
    SearchPage,
    SendResult,
    SimulatedPresence,
    SinkFilter,
    SinkStatus,
    Status,
    StoredMessage,
    Webhook,
)

T = TypeVar("T")


class AsyncEventStream:
    """The instance's events as they happen (`GET …/events`), as typed Events.

    Use it as `async with client.events(name) as stream: async for event in stream: …`; it is
    connected once `async with` is entered, so no event after that is missed. The stream ends
    when the gateway closes it (token rotated, instance deleted or logged out, maximum
    lifetime): reconnect then if you still want events.
    """

    def __init__(self, http: httpx.AsyncClient, path: str, timeout: httpx.Timeout) -> None:
        self._http = http
        self._request = http.build_request(
            "GET", path, headers={"Accept": "text/event-stream"}, timeout=timeout
        )
        self._response: httpx.Response | None = None
        self._events: AsyncGenerator[Event, None] | None = None

    async def open(self) -> AsyncEventStream:
        """Connect (entering `async with` does it): every event after this returns is seen."""
        if self._response is not None:
            return self
        try:
            response = await self._http.send(self._request, stream=True)
        except httpx.HTTPError as exc:
            raise transport_error(exc) from exc
        if response.status_code != 200:
            await response.aread()
            await response.aclose()
            raise error_of(response)
        self._response = response
        self._events = self._iterate(response)
        return self

    async def _iterate(self, response: httpx.Response) -> AsyncGenerator[Event, None]:
        decoder = SSEDecoder()
        try:
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is not None:
                    yield event
        except httpx.HTTPError as exc:
            raise transport_error(exc) from exc
        finally:
            await response.aclose()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> Event:
        await self.open()
        if self._events is None:  # open() always sets it; this keeps the type narrow
            raise StopAsyncIteration
        return await self._events.__anext__()

    async def aclose(self) -> None:
        if self._events is not None:
            await self._events.aclose()
        if self._response is not None:
            await self._response.aclose()

    async def __aenter__(self) -> AsyncEventStream:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncWagateClient:
    """The wagate HTTP API, asynchronously.

    `token` is the admin token or an instance's token. Give `http_client` to reuse your own
    httpx.AsyncClient (its base URL and auth are then yours to set).
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout = timeout
        self._own_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url, headers=auth_headers(token), timeout=timeout
        )

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncWagateClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _run(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.path, **request_args(call))
        except httpx.HTTPError as exc:
            raise transport_error(exc) from exc
        return finish(call, response)

    def events(self, instance: str, *, read_timeout: float | None = None) -> AsyncEventStream:
        """The instance's event stream. `read_timeout`: give up when nothing, not even a
        keep-alive, came for that long (None: wait as long as the stream is open)."""
        timeout = httpx.Timeout(self._timeout, read=read_timeout)
        return AsyncEventStream(self._http, routes.events_path(instance), timeout)

    async def iter_instances(
        self, *, status: InstanceStatusName | None = None, page_size: int | None = None
    ) -> AsyncIterator[Instance]:
        """Every instance the token may see, oldest first, following `next_cursor`."""
        cursor: str | None = None
        while True:
            page = await self.list_instances(status=status, limit=page_size, cursor=cursor)
            for instance in page.instances:
                yield instance
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def iter_messages(
        self,
        instance: str,
        *,
        status: MessageStatusName | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[MessageRecord]:
        """Every message record, newest first, following `next_cursor` page by page."""
        cursor: str | None = None
        while True:
            page = await self.list_messages(instance, status=status, limit=page_size, cursor=cursor)
            for record in page.messages:
                yield record
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def iter_dead_letters(
        self, instance: str | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[DeadLetter]:
        """Every dead letter, oldest first, following `next_cursor` page by page."""
        cursor: str | None = None
        while True:
            page = await self.list_dead_letters(instance, limit=page_size, cursor=cursor)
            for letter in page.dead_letters:
                yield letter
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    # --- the routes: scripts/gen_sync.py copies this section into WagateClient -----------
    # begin routes
    async def create_instance(
        self,
        name: str,
        *,
        engine: str | None = None,
        webhook: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> CreatedInstance:
        return await self._run(routes.create_instance(name, engine, webhook, settings))

    async def list_instances(
        self,
        *,
        status: InstanceStatusName | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> InstancePage:
        """One page of the instances the token may see, oldest first (`iter_instances` walks
        them all)."""
        return await self._run(routes.list_instances(status, limit, cursor))

    async def get_instance(self, instance: str) -> Instance:
        return await self._run(routes.get_instance(instance))

    async def update_settings(self, instance: str, **settings: int | bool | str) -> Instance:
        """PATCH the instance's settings (send_interval_ms, send_jitter_ms, max_attempts,
        reject_calls, always_online, proxy: a URL, "" removes it); the ones not given keep
        their value."""
        return await self._run(routes.patch_instance(instance, settings))

    async def delete_instance(self, instance: str) -> None:
        return await self._run(routes.delete_instance(instance))

    async def rotate_token(self, instance: str) -> str:
        return await self._run(routes.rotate_token(instance))

    async def connect(self, instance: str) -> Status:
        return await self._run(routes.lifecycle(instance, "connect"))

    async def disconnect(self, instance: str) -> Status:
        return await self._run(routes.lifecycle(instance, "disconnect"))

    async def logout(self, instance: str) -> Status:
        return await self._run(routes.lifecycle(instance, "logout"))

    async def restart(self, instance: str) -> Status:
        return await self._run(routes.lifecycle(instance, "restart"))

    async def get_qr(self, instance: str) -> QrCode:
        return await self._run(routes.get_qr(instance))

    async def get_qr_png(self, instance: str) -> bytes:
        return await self._run(routes.get_qr_png(instance))

    async def pair(self, instance: str, phone: str) -> str:
        return await self._run(routes.pair(instance, phone))

    async def send(
        self,
        instance: str,
        kind: str,
        body: Mapping[str, Any],
        *,
        media: MediaLike | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """Any kind, with its body as the API describes it (`to` included)."""
        call = routes.send(
            instance, kind, body, media=media, async_=async_, idempotency_key=idempotency_key
        )
        return await self._run(call)

    async def send_text(
        self,
        instance: str,
        to: str,
        text: str,
        *,
        link_preview: bool | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        return await self._run(routes.send_text(instance, to, text, link_preview, common))

    async def send_image(
        self,
        instance: str,
        to: str,
        media: MediaLike,
        *,
        caption: str | None = None,
        view_once: bool | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        fields = {"caption": caption, "view_once": view_once}
        return await self._run(routes.send_media(instance, "image", to, media, fields, common))

    async def send_video(
        self,
        instance: str,
        to: str,
        media: MediaLike,
        *,
        caption: str | None = None,
        gif: bool | None = None,
        view_once: bool | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        fields = {"caption": caption, "gif": gif, "view_once": view_once}
        return await self._run(routes.send_media(instance, "video", to, media, fields, common))

    async def send_audio(
        self,
        instance: str,
        to: str,
        media: MediaLike,
        *,
        ptt: bool | None = None,
        view_once: bool | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        fields = {"ptt": ptt, "view_once": view_once}
        return await self._run(routes.send_media(instance, "audio", to, media, fields, common))

    async def send_document(
        self,
        instance: str,
        to: str,
        media: MediaLike,
        filename: str,
        *,
        caption: str | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        fields = {"filename": filename, "caption": caption}
        call = routes.send_media(instance, "document", to, media, fields, common)
        return await self._run(call)

    async def send_sticker(
        self,
        instance: str,
        to: str,
        media: MediaLike,
        *,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        return await self._run(routes.send_media(instance, "sticker", to, media, {}, common))

    async def send_location(
        self,
        instance: str,
        to: str,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        call = routes.send_location(instance, to, latitude, longitude, name, address, common)
        return await self._run(call)

    async def send_contact(
        self,
        instance: str,
        to: str,
        contacts: Sequence[Mapping[str, Any]],
        *,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """`contacts`: `[{name, phone, organization?, email?}]`; the gateway builds vCards."""
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        return await self._run(routes.send_contact(instance, to, contacts, common))

    async def send_reaction(
        self,
        instance: str,
        to: str,
        message_id: str,
        emoji: str,
        *,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        """An empty `emoji` removes the reaction."""
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        return await self._run(routes.send_reaction(instance, to, message_id, emoji, common))

    async def send_poll(
        self,
        instance: str,
        to: str,
        question: str,
        options: Sequence[str],
        *,
        selectable_count: int | None = None,
        reply_to: str | None = None,
        mentions: Sequence[str] | None = None,
        async_: bool = False,
        idempotency_key: str | None = None,
    ) -> SendResult:
        common = SendOptions(reply_to, mentions, async_, idempotency_key)
        call = routes.send_poll(instance, to, question, options, selectable_count, common)
        return await self._run(call)

    async def send_batch(
        self, instance: str, messages: Sequence[Mapping[str, Any]]
    ) -> list[BatchItem]:
        """Queue up to 1,000 sends, each `{kind, to, …}`; a bad item fails alone."""
        return await self._run(routes.send_batch(instance, messages))

    async def get_message(self, instance: str, correlation_id: str) -> MessageRecord:
        return await self._run(routes.get_message(instance, correlation_id))

    async def list_messages(
        self,
        instance: str,
        *,
        status: MessageStatusName | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> MessagePage:
        return await self._run(routes.list_messages(instance, status, limit, cursor))

    async def edit_message(self, instance: str, correlation_id: str, text: str) -> MessageRecord:
        """Edits a sent text or caption (within WhatsApp's 15 minutes: ConflictError
        `edit_window_passed` after); the record, with `edited_text`."""
        return await self._run(routes.edit_message(instance, correlation_id, text))

    async def revoke_message(
        self, instance: str, correlation_id: str, *, for_: RevokeFor = "everyone"
    ) -> MessageRecord:
        """Deletes a send for everyone (a revoke) or on this device only (`for_="me"`); a
        send still queued is cancelled instead, never sent."""
        return await self._run(routes.revoke_message(instance, correlation_id, for_))

    async def forward_message(
        self, instance: str, chat: str, message_id: str, to: str
    ) -> ActionResult:
        return await self._run(routes.forward_message(instance, chat, message_id, to))

    async def react_to_message(
        self, instance: str, chat: str, message_id: str, emoji: str, *, sender: str | None = None
    ) -> ActionResult:
        """Reacts to any message of a chat; an empty `emoji` takes the reaction back."""
        return await self._run(routes.react_to_message(instance, chat, message_id, emoji, sender))

    async def read_message(
        self, instance: str, chat: str, message_id: str, *, sender: str | None = None
    ) -> None:
        return await self._run(routes.read_message(instance, chat, message_id, sender))

    async def pin_message(
        self,
        instance: str,
        chat: str,
        message_id: str,
        *,
        pin: bool = True,
        duration_s: PinDuration | None = None,
        sender: str | None = None,
    ) -> ActionResult:
        """Pins a message (7 days unless `duration_s` says otherwise), or unpins it."""
        return await self._run(
            routes.pin_message(instance, chat, message_id, pin, duration_s, sender)
        )

    async def vote_in_poll(
        self,
        instance: str,
        chat: str,
        message_id: str,
        options: Sequence[str],
        *,
        sender: str | None = None,
    ) -> ActionResult:
        """Votes by option name in any poll of a chat; `[]` takes the vote back."""
        return await self._run(routes.vote_in_poll(instance, chat, message_id, options, sender))

    async def vote_in_own_poll(
        self, instance: str, correlation_id: str, options: Sequence[str]
    ) -> ActionResult:
        """Votes in a poll this API sent, named by its correlation id."""
        return await self._run(routes.vote_own_poll(instance, correlation_id, options))

    async def list_dead_letters(
        self, instance: str | None = None, *, limit: int | None = None, cursor: str | None = None
    ) -> DeadLetterPage:
        return await self._run(routes.list_dead_letters(instance, limit, cursor))

    async def retry_all_dead_letters(self, instance: str | None = None) -> RetriedAll:
        """Queues every dead letter the token may see (or one instance's) again."""
        return await self._run(routes.retry_all_dead_letters(instance))

    async def retry_dead_letter(self, correlation_id: str) -> SendResult:
        return await self._run(routes.retry_dead_letter(correlation_id))

    async def delete_dead_letter(self, correlation_id: str) -> None:
        return await self._run(routes.delete_dead_letter(correlation_id))

    async def check_contacts(self, instance: str, phones: Sequence[str]) -> list[ContactCheck]:
        return await self._run(routes.check_contacts(instance, phones))

    async def mark_read(
        self, instance: str, chat: str, message_ids: Sequence[str], *, sender: str | None = None
    ) -> None:
        return await self._run(routes.mark_read(instance, chat, message_ids, sender))

    async def send_presence(self, instance: str, chat: str, state: PresenceState) -> None:
        return await self._run(routes.send_presence(instance, chat, state))

    async def get_contact(self, instance: str, contact: str) -> Contact:
        return await self._run(routes.get_contact(instance, contact))

    async def get_contact_picture(self, instance: str, contact: str) -> ProfilePicture:
        """The contact's picture; NotFound when it has none or hides it."""
        return await self._run(routes.get_contact_picture(instance, contact))

    async def get_contact_lid(self, instance: str, contact: str) -> LidMapping:
        return await self._run(routes.get_contact_lid(instance, contact))

    async def get_lid(self, instance: str, lid: str) -> LidMapping:
        return await self._run(routes.get_lid(instance, lid))

    async def get_blocklist(self, instance: str) -> list[str]:
        return await self._run(routes.get_blocklist(instance))

    async def update_blocklist(self, instance: str, action: BlockAction, contact: str) -> list[str]:
        return await self._run(routes.update_blocklist(instance, action, contact))

    async def get_profile(self, instance: str) -> Profile:
        return await self._run(routes.get_profile(instance))

    async def update_profile(
        self, instance: str, *, name: str | None = None, about: str | None = None
    ) -> Profile:
        return await self._run(routes.update_profile(instance, name, about))

    async def set_profile_picture(
        self,
        instance: str,
        *,
        url: str | None = None,
        base64: str | None = None,
        mimetype: str | None = None,
    ) -> Profile:
        return await self._run(
            routes.set_profile_picture(
                instance, {"url": url, "base64": base64, "mimetype": mimetype}
            )
        )

    async def remove_profile_picture(self, instance: str) -> Profile:
        return await self._run(routes.remove_profile_picture(instance))

    async def get_privacy(self, instance: str) -> dict[str, str]:
        return await self._run(routes.get_privacy(instance))

    async def update_privacy(self, instance: str, **settings: str) -> dict[str, str]:
        return await self._run(routes.update_privacy(instance, settings))

    async def set_account_presence(self, instance: str, state: AccountPresence) -> None:
        return await self._run(routes.set_account_presence(instance, state))

    async def subscribe_presence(self, instance: str, chat: str) -> None:
        return await self._run(routes.subscribe_presence(instance, chat))

    async def update_chat(self, instance: str, chat: str, **changes: Any) -> None:
        """Changes the settings given (archived, pinned, muted_until, disappearing_s);
        `muted_until=None` unmutes."""
        return await self._run(routes.update_chat(instance, chat, changes))

    async def reject_call(self, instance: str, call_id: str) -> None:
        return await self._run(routes.reject_call(instance, call_id))

    async def simulator_presence(
        self, instance: str, from_: str, state: str, *, chat: str | None = None
    ) -> bool:
        return await self._run(
            routes.simulator_presence(instance, {"from": from_, "state": state, "chat": chat})
        )

    async def simulator_call(self, instance: str, from_: str, *, video: bool = False) -> str | None:
        return await self._run(routes.simulator_call(instance, {"from": from_, "video": video}))

    async def simulator_call_ends(self, instance: str, call_id: str, status: str) -> None:
        return await self._run(routes.simulator_call_ends(instance, call_id, status))

    async def simulator_contact(self, instance: str, contact: str, **changes: Any) -> None:
        return await self._run(routes.simulator_contact(instance, contact, changes))

    async def download_media(self, instance: str, message_id: str) -> Media:
        return await self._run(routes.download_media(instance, message_id))

    async def list_chats(
        self, instance: str, *, limit: int | None = None, before: str | None = None
    ) -> ChatPage:
        """Chats by last activity, most recent first; `before` is the page's next_cursor."""
        return await self._run(routes.list_chats(instance, limit, before))

    async def get_chat(self, instance: str, chat: str) -> Chat:
        return await self._run(routes.get_chat(instance, chat))

    async def chat_messages(
        self,
        instance: str,
        chat: str,
        *,
        limit: int | None = None,
        before: str | None = None,
        after: str | None = None,
        kind: str | None = None,
        direction: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> HistoryPage:
        """A chat's messages, newest first; with `after`, the newer ones oldest first."""
        filters = {
            "limit": limit,
            "before": before,
            "after": after,
            "kind": kind,
            "direction": direction,
            "since": since,
            "until": until,
        }
        return await self._run(routes.chat_messages(instance, chat, filters))

    async def chat_message(self, instance: str, chat: str, message_id: str) -> StoredMessage:
        return await self._run(routes.chat_message(instance, chat, message_id))

    async def search_messages(
        self,
        instance: str,
        q: str,
        *,
        chat: str | None = None,
        limit: int | None = None,
        before: str | None = None,
    ) -> SearchPage:
        return await self._run(routes.search_messages(instance, q, chat, limit, before))

    async def list_contacts(
        self, instance: str, *, limit: int | None = None, after: str | None = None
    ) -> ContactPage:
        return await self._run(routes.list_contacts(instance, limit, after))

    async def set_webhook(
        self,
        instance: str,
        url: str,
        *,
        events: Sequence[EventName] | None = None,
        secret: str | None = None,
    ) -> Webhook:
        return await self._run(routes.put_webhook(instance, url, events, secret))

    async def get_webhook(self, instance: str) -> Webhook:
        return await self._run(routes.get_webhook(instance))

    async def delete_webhook(self, instance: str) -> None:
        return await self._run(routes.delete_webhook(instance))

    async def list_deliveries(
        self,
        instance: str,
        *,
        status: DeliveryStatusName | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> DeliveryPage:
        return await self._run(routes.list_deliveries(instance, status, limit, cursor))

    async def get_delivery(self, instance: str, delivery_id: str) -> Delivery:
        return await self._run(routes.get_delivery(instance, delivery_id))

    async def redeliver(self, instance: str, delivery_id: str) -> Delivery:
        return await self._run(routes.redeliver(instance, delivery_id))

    async def simulator_scan(self, instance: str, phone: str | None = None) -> None:
        return await self._run(routes.simulator_scan(instance, phone))

    async def simulator_inbound(
        self, instance: str, sender: str, text: str | None = None, **fields: Any
    ) -> str:
        """Make a message arrive from `sender` (text, or `kind=` with its fields); returns
        its message id."""
        body = {"from": sender, "text": text, **fields}
        return await self._run(routes.simulator_inbound(instance, body))

    async def simulator_faults(
        self,
        instance: str,
        *,
        send_latency_ms: int | None = None,
        fail_next: int | None = None,
        fail_kind: str | None = None,
        disconnect: bool = False,
        logout: bool = False,
    ) -> Faults:
        body = routes.simulator_faults_body(
            send_latency_ms, fail_next, fail_kind, disconnect, logout
        )
        return await self._run(routes.simulator_faults(instance, body))

    async def simulator_history(
        self,
        instance: str,
        *,
        chats: int | None = None,
        messages: int | None = None,
        days: int | None = None,
    ) -> list[str]:
        """The simulated phone sends a history (history_sync events follow); the ids of the
        messages it holds."""
        return await self._run(routes.simulator_history(instance, chats, messages, days))

    async def simulator_outbox(self, instance: str) -> list[OutboxMessage]:
        return await self._run(routes.simulator_outbox(instance))

    async def simulator_edit(
        self, instance: str, from_: str, message_id: str, text: str, *, chat: str | None = None
    ) -> None:
        """A contact edits a message it sent the instance (message_edited)."""
        body = {"from": from_, "message_id": message_id, "text": text, "chat": chat}
        return await self._run(routes.simulator_edit(instance, body))

    async def simulator_revoke(
        self, instance: str, from_: str, message_id: str, *, chat: str | None = None
    ) -> None:
        """A contact deletes for everyone a message it sent the instance (message_revoked)."""
        body = {"from": from_, "message_id": message_id, "chat": chat}
        return await self._run(routes.simulator_revoke(instance, body))

    async def simulator_vote(
        self,
        instance: str,
        from_: str,
        message_id: str,
        options: Sequence[str],
        *,
        chat: str | None = None,
    ) -> None:
        """A contact votes in a poll of its chat (poll_vote)."""
        body = {"from": from_, "message_id": message_id, "options": list(options), "chat": chat}
        return await self._run(routes.simulator_vote(instance, body))

    async def simulator_presence_sent(self, instance: str) -> SimulatedPresence:
        """The presence the instance sent (available / unavailable) and what contacts see."""
        return await self._run(routes.simulator_presence_sent(instance))

    async def sinks(self) -> list[SinkStatus]:
        """Every consumer of the events, with the backlog of the durable ones (admin)."""
        return await self._run(routes.list_sinks())

    async def get_sink_filter(self, instance: str, sink: SinkName) -> SinkFilter:
        return await self._run(routes.get_sink_filter(instance, sink))

    async def set_sink_filter(
        self, instance: str, sink: SinkName, events: Sequence[EventName]
    ) -> SinkFilter:
        """Publish only these events of the instance to the transport ([]: none)."""
        return await self._run(routes.put_sink_filter(instance, sink, events))

    async def delete_sink_filter(self, instance: str, sink: SinkName) -> None:
        return await self._run(routes.delete_sink_filter(instance, sink))

    async def get_send_policy(self, instance: str) -> dict[str, Any]:
        """The send policy, its counters, what it holds and when the next send may go."""
        return await self._run(routes.get_send_policy(instance))

    async def update_send_policy(self, instance: str, **changes: Any) -> dict[str, Any]:
        """Change fields of the send policy (None removes a limit)."""
        return await self._run(routes.update_send_policy(instance, changes))

    async def resume_sending(self, instance: str) -> dict[str, Any]:
        """Sending goes on now after a pause of the circuit breaker."""
        return await self._run(routes.resume_sending(instance))

    async def cluster(self) -> Cluster:
        return await self._run(routes.get_cluster())

    async def node_info(self) -> dict[str, str]:
        """The node's name, version and where its docs, dashboard and health routes are."""
        return await self._run(routes.node_info())

    async def health(self) -> bool:
        return await self._run(routes.health())

    async def readiness(self) -> Readiness:
        return await self._run(routes.readiness())

    async def metrics(self) -> str:
        return await self._run(routes.metrics())

    async def create_group(
        self,
        instance: str,
        subject: str,
        participants: Sequence[str],
        *,
        description: str | None = None,
    ) -> Group:
        """A new group with the instance as its creator; `failed` lists the participants that
        could not be added, with the reason."""
        return await self._run(routes.create_group(instance, subject, participants, description))

    async def list_groups(
        self, instance: str, *, limit: int | None = None, cursor: str | None = None
    ) -> GroupPage:
        return await self._run(routes.list_groups(instance, limit, cursor))

    async def get_group(self, instance: str, group: str) -> Group:
        return await self._run(routes.get_group(instance, group))

    async def update_group(self, instance: str, group: str, **changes: Any) -> Group:
        """Change any of subject, description, announce, locked, join_approval, ephemeral_s."""
        return await self._run(routes.update_group(instance, group, changes))

    async def set_group_picture(self, instance: str, group: str, picture: MediaLike) -> None:
        return await self._run(routes.set_group_picture(instance, group, picture))

    async def remove_group_picture(self, instance: str, group: str) -> None:
        return await self._run(routes.remove_group_picture(instance, group))

    async def update_participants(
        self, instance: str, group: str, action: ParticipantAction, participants: Sequence[str]
    ) -> list[ParticipantResult]:
        return await self._run(routes.update_participants(instance, group, action, participants))

    async def join_requests(self, instance: str, group: str) -> list[JoinRequest]:
        return await self._run(routes.join_requests(instance, group))

    async def answer_join_requests(
        self, instance: str, group: str, action: RequestAnswer, participants: Sequence[str]
    ) -> list[ParticipantResult]:
        return await self._run(routes.answer_join_requests(instance, group, action, participants))

    async def group_invite(self, instance: str, group: str, *, revoke: bool = False) -> InviteLink:
        """The group's invite link; `revoke=True` makes a new one (the old one stops working)."""
        return await self._run(routes.group_invite(instance, group, revoke))

    async def invite_info(self, instance: str, code: str) -> Group:
        return await self._run(routes.invite_info(instance, code))

    async def join_group(self, instance: str, code: str) -> str:
        """Join by an invite code; returns the group's JID."""
        return await self._run(routes.join_group(instance, code))

    async def leave_group(self, instance: str, group: str) -> None:
        return await self._run(routes.leave_group(instance, group))

    async def simulator_group(
        self,
        instance: str,
        subject: str,
        *,
        creator: str | None = None,
        members: Sequence[str] = (),
        role: str = "member",
    ) -> Group:
        """A group with the instance in it, created by another participant (`creator`)."""
        body = {"subject": subject, "members": list(members), "role": role}
        if creator is not None:
            body["creator"] = creator
        return await self._run(routes.simulator_group(instance, body))

    async def simulator_group_participants(
        self,
        instance: str,
        group: str,
        action: ParticipantAction,
        participants: Sequence[str],
        *,
        by: str | None = None,
    ) -> list[ParticipantResult]:
        """Another participant (`by`, default the creator) adds, removes, promotes, demotes."""
        body = {"by": by, "action": action, "participants": list(participants)}
        return await self._run(routes.simulator_group_participants(instance, group, body))

    async def simulator_group_change(
        self, instance: str, group: str, *, by: str | None = None, **changes: Any
    ) -> Group:
        body = {"by": by, **changes}
        return await self._run(routes.simulator_group_change(instance, group, body))

    async def simulator_group_message(
        self, instance: str, group: str, sender: str, text: str
    ) -> str:
        """A participant posts a text into the group; returns its message id."""
        body = {"from": sender, "text": text}
        return await self._run(routes.simulator_group_message(instance, group, body))

    async def simulator_group_join(self, instance: str, code: str, sender: str) -> str:
        """Someone follows an invite link (with join approval on: asks to join)."""
        return await self._run(routes.simulator_group_join(instance, code, sender))

    # end routes
