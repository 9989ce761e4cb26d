"""The dead-letter API (API.md "Dead letters"): failed sends, to list, retry or drop."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from wagate.auth.dependencies import CurrentPrincipal, Principal
from wagate.errors import NotFound, error_responses
from wagate.instances import service as instances
from wagate.messages import repository
from wagate.messages.schemas import DeadLetterList, DeadLetterOut, QueuedOut, RetriedOut
from wagate.node import HasDb, HasMessaging, get_node
from wagate.paging import id_cursor


class DeadLettersNode(HasDb, HasMessaging, Protocol):
    """What the dead-letter routes use of the node: the table, and the send service to retry."""


State = Annotated[DeadLettersNode, Depends(get_node)]
router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])


def scope(principal: Principal, instance: str | None) -> str | None:
    """Which instance the caller may see: an instance token only its own."""
    if principal.is_admin:
        return instance
    if instance is not None and instance != principal.instance_name:
        raise NotFound(f"instance '{instance}' not found")
    return principal.instance_name


def after_cursor(cursor: str | None) -> int:
    """The cursor is the id of the last dead letter of the previous page (oldest first)."""
    return 0 if cursor is None else id_cursor(cursor)


async def instance_id_of(state: HasDb, principal: Principal, instance: str | None) -> int | None:
    name = scope(principal, instance)
    return (await instances.load(state, name)).id if name is not None else None


@router.get("", response_model=DeadLetterList, responses=error_responses(404, 422))
async def list_dead_letters(
    state: State,
    principal: CurrentPrincipal,
    instance: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> DeadLetterList:
    after = after_cursor(cursor)
    instance_id = await instance_id_of(state, principal, instance)
    async with state.db.session() as session:
        # One more than asked: whether there is a next page, without counting them all.
        rows = await repository.dead_letter_page(session, instance_id, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return DeadLetterList(
        dead_letters=[
            DeadLetterOut(
                correlation_id=row.correlation_id,
                instance=owner,
                kind=row.kind,
                to=row.to,
                error=row.error,
                attempts=row.attempts,
                failed_at=row.failed_at,
            )
            for row, owner in rows
        ],
        next_cursor=str(rows[-1][0].id) if more and rows else None,
    )


@router.post(
    "/retry",
    status_code=202,
    response_model=RetriedOut,
    responses=error_responses(404),
)
async def retry_all_dead_letters(
    state: State,
    principal: CurrentPrincipal,
    instance: Annotated[str | None, Query(max_length=64)] = None,
) -> RetriedOut:
    assert state.messaging is not None
    instance_id = await instance_id_of(state, principal, instance)
    async with state.db.session() as session:
        rows = await repository.dead_letters(session, instance_id)
    allowed = None if principal.is_admin else principal.instance_name
    retried: list[str] = []
    for message, _owner in rows:
        # The single retry's path, one letter at a time: each is requeued in its own
        # transaction, so a letter retried or deleted meanwhile by someone else is skipped
        # rather than failing the others.
        try:
            await state.messaging.service.retry_dead_letter(message.correlation_id, allowed)
        except NotFound:
            continue
        retried.append(message.correlation_id)
    return RetriedOut(retried=len(retried), correlation_ids=retried)


@router.post(
    "/{correlation_id}/retry",
    status_code=202,
    response_model=QueuedOut,
    responses=error_responses(404),
)
async def retry_dead_letter(
    correlation_id: str, state: State, principal: CurrentPrincipal
) -> JSONResponse:
    assert state.messaging is not None
    allowed = None if principal.is_admin else principal.instance_name
    answer = await state.messaging.service.retry_dead_letter(correlation_id, allowed)
    return JSONResponse(answer.body, status_code=answer.status_code, headers=answer.headers)


@router.delete("/{correlation_id}", status_code=204, responses=error_responses(404))
async def delete_dead_letter(
    correlation_id: str, state: State, principal: CurrentPrincipal
) -> Response:
    async with state.db.transaction() as session:
        found = await repository.dead_letter(session, correlation_id)
        if found is None or not principal.can_access(found[1]):
            raise NotFound(f"dead letter '{correlation_id}' not found")
        # The record stays (status failed); it only leaves the dead-letter queue, and with it
        # the means to send it again: its media bytes go (its body follows the retention).
        await repository.set_fields(session, found[0].id, dead_lettered=False)
        await repository.drop_media(session, [found[0].id])
    return Response(status_code=204)
