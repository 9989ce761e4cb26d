"""A real n8n with the wagate package loaded, and an owner signed in through its REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.support.n8n import build_package, install_n8n, install_package, running_n8n
from tests.support.polling import eventually_sync

OWNER = {
    "email": "owner@example.com",
    "firstName": "Test",
    "lastName": "Owner",
    "password": "Owner-password-1",
}


@dataclass(frozen=True)
class N8n:
    url: str
    log: Path


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """n8n is under test here, not the database: the gateway runs on SQLite only."""
    return sqlite_url


def _setup_owner(url: str) -> None:
    def ready() -> bool:
        # n8n answers /healthz, and some routes, before it has registered the rest of its REST
        # API: a route that needs a user answers 401 only once it is registered.
        try:
            return httpx.get(f"{url}/rest/credentials", timeout=5).status_code == 401
        except httpx.HTTPError:
            return False

    eventually_sync(ready, timeout=180, interval=0.5, what="n8n's REST API")
    answer = httpx.post(f"{url}/rest/owner/setup", json=OWNER, timeout=30)
    assert answer.status_code == 200, answer.text


@pytest.fixture(scope="session")
def n8n_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's tarball, built from the working tree; its build is next to it."""
    return build_package(tmp_path_factory.mktemp("n8n-package"))


@pytest.fixture(scope="module")
def n8n(tmp_path_factory: pytest.TempPathFactory, n8n_package: Path) -> Iterator[N8n]:
    script = install_n8n()
    work = tmp_path_factory.mktemp("n8n")
    user_folder = work / "user"
    install_package(n8n_package, user_folder)
    log = work / "n8n.log"
    with running_n8n(script, user_folder, free_port(), log) as url:
        _setup_owner(url)
        yield N8n(url, log)


@pytest.fixture
async def n8n_rest(n8n: N8n) -> AsyncIterator[httpx.AsyncClient]:
    """n8n's REST API, signed in as the owner (its auth cookie)."""
    async with httpx.AsyncClient(base_url=f"{n8n.url}/rest", timeout=60) as rest:
        login = {"emailOrLdapLoginId": OWNER["email"], "password": OWNER["password"]}
        answer = await rest.post("/login", json=login)
        assert answer.status_code == 200, answer.text
        yield rest
