"""Who is calling: the admin, or one instance's token holder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request

from wagate.auth.tokens import hash_token, token_from_headers, token_matches
from wagate.errors import Forbidden, NotFound, Unauthorized
from wagate.node import HasAdminToken, HasDb, HasInstances, get_node
from wagate.repository.instances import by_token_hash


class AuthNode(HasAdminToken, HasDb, HasInstances, Protocol):
    """What authentication uses of the node: the admin token, the tokens it caches, and the
    database for the others."""


@dataclass(frozen=True, slots=True)
class Principal:
    is_admin: bool
    instance_name: str | None = None

    def can_access(self, instance_name: str) -> bool:
        return self.is_admin or self.instance_name == instance_name


ADMIN = Principal(is_admin=True)


def bearer_token(request: Request) -> str | None:
    return token_from_headers(request.scope["headers"])


def known_principal(state: AuthNode, token: str) -> Principal | None:
    """The principal of a token this node knows without a query: the admin's, or one in the
    instance cache. None: the database has to say."""
    if token_matches(token, state.admin_token_hash):
        return ADMIN
    name = state.instances.token(hash_token(token))  # keyed by the hash of the whole token
    return None if name is None else Principal(is_admin=False, instance_name=name)


async def resolve_principal(state: AuthNode, token: str | None) -> Principal:
    if token is None:
        raise Unauthorized("missing token: send Authorization: Bearer <token> or X-Api-Key")
    known = known_principal(state, token)
    if known is not None:
        return known
    token_hash = hash_token(token)
    cache = state.instances
    generation = cache.generation
    async with state.db.api_session() as session:
        found = await by_token_hash(session, token_hash)
    if found is not None and token_matches(token, found.token_hash):
        cache.put_token(token_hash, found.name, generation)
        return Principal(is_admin=False, instance_name=found.name)
    raise Unauthorized("invalid token")


async def current_principal(
    request: Request, state: Annotated[AuthNode, Depends(get_node)]
) -> Principal:
    # Set by the edge (wagate.auth.edge), which authenticated the request before its body.
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    principal = await resolve_principal(state, bearer_token(request))
    request.state.principal = principal
    return principal


async def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this route needs the admin token")
    return principal


def check_instance_access(principal: Principal, instance_name: str) -> None:
    """An instance token on another instance's route is 404: it must not learn it exists."""
    if not principal.can_access(instance_name):
        raise NotFound(f"instance '{instance_name}' not found")


async def instance_principal(
    instance: str, principal: Annotated[Principal, Depends(current_principal)]
) -> Principal:
    check_instance_access(principal, instance)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminPrincipal = Annotated[Principal, Depends(require_admin)]
InstancePrincipal = Annotated[Principal, Depends(instance_principal)]
