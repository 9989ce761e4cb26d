"""/docs in a real headless Chromium with every request to anything but the gateway blocked:
Swagger UI loads from the package, and a call made from the page with the admin token works."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, Page, Route, expect

from tests.browser.conftest import Gateway, linked_instance, screenshot, unique
from tests.conftest import ADMIN_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_docs_work_offline_and_call_the_api(
    context: BrowserContext, page: Page, gateway: Gateway, artifacts: Path
) -> None:
    name = linked_instance(gateway, unique("docs"))
    served = urlsplit(gateway.url).netloc
    blocked: list[str] = []
    loaded: list[str] = []

    async def only_the_gateway(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == served:
            loaded.append(url)
            await route.continue_()
        else:  # a CDN, a font host, anything else: the page must not need it
            blocked.append(url)
            await route.abort()

    await context.route("**/*", only_the_gateway)
    await page.goto(f"{gateway.url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("wagate")
    assert f"{gateway.url}/docs/static/swagger-ui-bundle.js" in loaded
    assert f"{gateway.url}/docs/static/swagger-ui.css" in loaded

    # Authorize: the bearer scheme, with the admin token.
    await page.locator(".swagger-ui .auth-wrapper button.authorize").click()
    bearer = page.locator(".modal-ux form").filter(has_text="bearer (http, Bearer)")
    await bearer.locator("input").fill(ADMIN_TOKEN)
    await bearer.get_by_role("button", name="Apply credentials").click()
    await expect(bearer).to_contain_text("Authorized")
    await bearer.locator(".btn-done").click()

    # GET /v1/instances: Try it out, Execute, and the gateway's answer in the page.
    operation = page.locator("#operations-instances-list_instances")
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    await operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    await expect(live.locator(".response-col_status").first).to_have_text("200")
    await expect(live.locator(".response-col_description")).to_contain_text(name)
    await screenshot(page, artifacts, "docs-offline")
    assert blocked == []
