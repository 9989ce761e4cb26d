"""Queries on the simulated groups: their participants, the requests to join, the invite
codes. Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.models import SimulatorGroup, SimulatorGroupMember, SimulatorGroupRequest


async def group(session: AsyncSession, jid: str) -> SimulatorGroup | None:
    row: SimulatorGroup | None = await session.get(SimulatorGroup, jid)
    return row


async def add_group(session: AsyncSession, row: SimulatorGroup, members: dict[str, str]) -> None:
    """A new group with its participants (`members`: JID to role, in the order they joined)."""
    session.add(row)
    await session.flush()
    session.add_all(
        SimulatorGroupMember(group_jid=row.jid, jid=jid, role=role) for jid, role in members.items()
    )
    await session.flush()


async def delete_group(session: AsyncSession, row: SimulatorGroup) -> None:
    await session.delete(row)


async def add_member(session: AsyncSession, group: str, jid: str) -> SimulatorGroupMember:
    """A participant joins (or is added) as a plain member."""
    added = SimulatorGroupMember(group_jid=group, jid=jid, role="member")
    session.add(added)
    return added


async def remove_member(session: AsyncSession, member: SimulatorGroupMember) -> None:
    await session.delete(member)


async def has_request(session: AsyncSession, group: str, jid: str) -> bool:
    return await session.get(SimulatorGroupRequest, (group, jid)) is not None


async def add_request(session: AsyncSession, group: str, jid: str) -> None:
    session.add(SimulatorGroupRequest(group_jid=group, jid=jid))


async def take_request(session: AsyncSession, group: str, jid: str) -> bool:
    """Whether `jid` asked to join `group`; its request is gone either way."""
    pending = await session.get(SimulatorGroupRequest, (group, jid))
    if pending is None:
        return False
    await session.delete(pending)
    return True


async def members(session: AsyncSession, group: str) -> list[SimulatorGroupMember]:
    """The group's participants, in the order they joined."""
    result = await session.execute(
        select(SimulatorGroupMember)
        .where(SimulatorGroupMember.group_jid == group)
        .order_by(SimulatorGroupMember.joined_at, SimulatorGroupMember.jid)
    )
    return list(result.scalars())


async def groups_of(session: AsyncSession, member: str) -> list[str]:
    """The JIDs of the groups `member` is in."""
    result = await session.execute(
        select(SimulatorGroupMember.group_jid)
        .where(SimulatorGroupMember.jid == member)
        .order_by(SimulatorGroupMember.group_jid)
    )
    return list(result.scalars())


async def drop_request(session: AsyncSession, group: str, jid: str) -> None:
    await session.execute(
        delete(SimulatorGroupRequest).where(
            SimulatorGroupRequest.group_jid == group,
            SimulatorGroupRequest.jid == jid,
        )
    )


async def requests(session: AsyncSession, group: str) -> list[SimulatorGroupRequest]:
    """The requests to join the group, oldest first."""
    result = await session.execute(
        select(SimulatorGroupRequest)
        .where(SimulatorGroupRequest.group_jid == group)
        .order_by(SimulatorGroupRequest.requested_at, SimulatorGroupRequest.jid)
    )
    return list(result.scalars())


async def by_invite_code(session: AsyncSession, code: str) -> str | None:
    result = await session.execute(
        select(SimulatorGroup.jid).where(SimulatorGroup.invite_code == code)
    )
    return result.scalar_one_or_none()
