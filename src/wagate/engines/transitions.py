"""What an engine's state event does to an instance, decided without I/O.

The client manager (`engines/manager.py`) carries a `Transition` out under the instance's lock:
it stops the client, forgets the device, records what the user now wants, writes the status
and its columns, publishes, and schedules a reconnect, in that order. Keeping the decision
here lets every event be checked against every status without a database or an engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate.engines.base import (
    Connected,
    ConnectFailed,
    ConnectionLost,
    EngineEvent,
    InstanceRef,
    LoggedOut,
    QrCode,
    QrTimeout,
    StreamReplaced,
)
from wagate.engines.status import LIVE, Status


@dataclass(frozen=True, slots=True)
class Transition:
    """The effects of one state event, applied in the order of the fields."""

    status: Status
    reason: str | None
    ref: InstanceRef  # the instance's identity afterwards (a logout drops the JIDs)
    stop_client: bool = False
    forget_device: bool = False  # the device data of the ref *before* the event goes
    want_stopped: bool = False  # desired_state "stopped": not resumed on the next start
    fields: Mapping[str, Any] = field(default_factory=dict)  # columns written with the status
    qr: QrCode | None = None  # the QR code shown afterwards
    publish_qr: bool = False  # a `qr_updated` event besides `connection_update`
    reset_attempts: bool = False  # the reconnect backoff starts over
    reconnect: bool = False  # another client is started after a backoff


_GONE = {"jid": None, "device_jid": None, "phone": None}


def on_event(event: EngineEvent, ref: InstanceRef, now: datetime) -> Transition | None:
    """The transition of a state event (None: not a state event)."""
    if isinstance(event, QrCode):
        return Transition(
            Status.PAIRING,
            None,
            ref,
            fields={"qr_code": event.code, "qr_expires_at": event.expires_at},
            qr=event,
            publish_qr=True,
        )
    if isinstance(event, Connected):
        # A resumed device reports itself again: the one recorded at link stays if the
        # engine has no device JID to give.
        device = event.device or ref.device
        fields = {"jid": event.jid, "device_jid": device, "phone": event.phone}
        return Transition(
            Status.CONNECTED,
            None,
            InstanceRef(ref.id, ref.name, event.jid, device),
            fields={**fields, "connected_at": now},
            reset_attempts=True,
        )
    if isinstance(event, ConnectionLost | ConnectFailed):
        if isinstance(event, ConnectFailed) and event.permanent:
            return Transition(Status.DISCONNECTED, event.reason, ref, stop_client=True)
        return Transition(Status.RECONNECTING, event.reason, ref, stop_client=True, reconnect=True)
    if isinstance(event, LoggedOut):
        return Transition(
            Status.LOGGED_OUT,
            event.reason,
            InstanceRef(ref.id, ref.name),
            stop_client=True,
            forget_device=True,
            want_stopped=True,
            fields=_GONE,
        )
    if isinstance(event, StreamReplaced | QrTimeout):
        reason = "stream_replaced" if isinstance(event, StreamReplaced) else "qr_timeout"
        return Transition(Status.DISCONNECTED, reason, ref, stop_client=True, want_stopped=True)
    return None


def status_columns(
    new: Status, reason: str | None, node_id: str, now: datetime, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The columns written with a new status: the error is the reason (none once connected
    or after a disconnect the user asked for), the node is this one while a client lives, and
    a QR code is kept only while pairing."""
    values: dict[str, Any] = {
        "status": new.value,
        "last_error": reason if new != Status.CONNECTED else None,
        "last_event_at": now,
        "node": node_id if new in LIVE else None,
        **fields,
    }
    if new == Status.DISCONNECTED and reason == "disconnected":
        values["last_error"] = None
    if new != Status.PAIRING:
        values.update(qr_code=None, qr_expires_at=None)
    return values


def announced(previous: Status, new: Status, fields: Mapping[str, Any]) -> bool:
    """Whether a status write publishes `connection_update`: a change of status, or a JID
    learnt (a reconnect of the same status that names the account again)."""
    return new != previous or fields.get("jid") is not None
