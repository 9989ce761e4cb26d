"""The n8n package in a real n8n: the example workflow "message received → reply with the same
text" imported and activated through n8n's REST API answers a simulated inbound message, with
the signature of the delivery checked; a delivery with a bad signature starts nothing; the
workflow deactivated takes its webhook off the instance. Then every resource of the action
node in one workflow, and a refusal of the gateway as the node's error. The gateway is this
process's app, served on loopback; n8n is the webhook receiver."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Route, async_playwright

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import linked_instance
from tests.integration.messaging.conftest import png_bytes
from tests.integration.n8n.conftest import OWNER, N8n
from tests.support.n8n import PACKAGE
from tests.support.polling import eventually

pytestmark = [pytest.mark.n8n, pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = PACKAGE / "examples" / "echo-workflow.json"
# The image docs/integrations.md shows: written there only when asked for
# (WAGATE_REFRESH_DOC_IMAGES=1), so a test run leaves the working tree as it found it.
DOC_SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "images" / "n8n-workflow.png"
SENDER = "+5511987654321"
SENDER_JID = "5511987654321@s.whatsapp.net"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
# The send parameter `async` is a Python keyword.
QUEUED: dict[str, Any] = {"async": True}


def ok(answer: httpx.Response) -> Any:
    """The `data` of a 200 answer of n8n's REST API."""
    assert answer.status_code == 200, f"{answer.request.method} {answer.url}: {answer.text}"
    return answer.json()["data"]


async def create_credential(rest: httpx.AsyncClient, gateway: str, token: str) -> str:
    data = {"url": gateway, "token": token}
    credential = {"name": "wagate shop", "type": "wagateApi", "data": data}
    created = ok(await rest.post("/credentials", json=credential))
    # The credential's own test (GET /v1/instances with the token) passes, a wrong token fails.
    saved = {**credential, "id": created["id"]}
    tested = ok(await rest.post("/credentials/test", json={"credentials": saved}))
    assert tested["status"] == "OK", tested
    wrong = {**saved, "data": {"url": gateway, "token": "wga_not_a_token_0123456789"}}
    refused = ok(await rest.post("/credentials/test", json={"credentials": wrong}))
    assert refused["status"] == "Error", refused
    return str(created["id"])


async def import_workflow(
    rest: httpx.AsyncClient, instance: str, credential: str
) -> dict[str, Any]:
    """The example workflow as a user imports it, pointed at this instance and credential."""
    workflow = json.loads(EXAMPLE.read_text())
    for node in workflow["nodes"]:
        node["credentials"]["wagateApi"]["id"] = credential
        if node["type"].endswith("wagateTrigger"):
            node["parameters"]["instance"] = instance
    created: dict[str, Any] = ok(await rest.post("/workflows", json={**workflow, "active": False}))
    return created


async def set_active(rest: httpx.AsyncClient, workflow: dict[str, Any], active: bool) -> None:
    if active:
        current = ok(await rest.get(f"/workflows/{workflow['id']}"))
        body = {"versionId": current["versionId"]}
        answer = ok(await rest.post(f"/workflows/{workflow['id']}/activate", json=body))
    else:
        answer = ok(await rest.post(f"/workflows/{workflow['id']}/deactivate"))
    assert answer["active"] is active, answer


async def executions(rest: httpx.AsyncClient, workflow_id: str) -> list[dict[str, Any]]:
    query = {"filter": json.dumps({"workflowId": workflow_id})}
    data = ok(await rest.get("/executions", params=query))
    results: list[dict[str, Any]] = data["results"]
    return results


async def last_run(rest: httpx.AsyncClient, workflow_id: str) -> str:
    """The last execution of a workflow as n8n keeps it (its nodes' errors are in it): what a
    failed check shows."""
    runs = await executions(rest, workflow_id)
    if not runs:
        return "no execution"
    data = ok(await rest.get(f"/executions/{runs[0]['id']}"))["data"]
    # n8n keeps an execution as one string (its own `flatted` format): the error's message is
    # in it as text.
    found = re.findall(r'"(?:message|description)":"[^"]*"|"[^"]*(?:rror|ailed)[^"]*"', data)
    return "\n".join(found[:20]) or data[-3000:]


async def outbox(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = gateway_json(
        await client.get(f"/v1/instances/{name}/simulator/outbox")
    )["messages"]
    return messages


def gateway_json(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_echo_workflow(
    client: httpx.AsyncClient,
    base_url: str,
    n8n: N8n,
    n8n_rest: httpx.AsyncClient,
    tmp_path: Path,
) -> None:
    linked = await linked_instance(client)
    name, token = linked["name"], linked["token"]
    credential = await create_credential(n8n_rest, base_url, token)
    workflow = await import_workflow(n8n_rest, name, credential)
    await set_active(n8n_rest, workflow, True)

    # Activation set the instance's webhook to n8n, with a secret only the workflow knows.
    webhook = gateway_json(await client.get(f"/v1/instances/{name}/webhook"))
    assert webhook["url"].startswith(f"{n8n.url}/webhook/"), webhook
    assert webhook["events"] == ["message_received"] and webhook["secret_set"] is True

    inbound = {"from": SENDER, "text": "hello from WhatsApp", "push_name": "Ana"}
    answer = await client.post(f"/v1/instances/{name}/simulator/inbound", json=inbound)
    assert answer.status_code == 200, answer.text

    async def replied() -> list[dict[str, Any]]:
        return [m for m in await outbox(client, name) if m["kind"] == "text"]

    sent = await eventually(replied, timeout=60, interval=0.2, what="the reply in the outbox")
    assert [(m["to"], m["body"]["text"]) for m in sent] == [(SENDER_JID, "hello from WhatsApp")]

    async def succeeded() -> bool:
        runs = await executions(n8n_rest, workflow["id"])
        return [run["status"] for run in runs] == ["success"]

    await eventually(succeeded, timeout=30, interval=0.2, what="one successful execution")
    log = gateway_json(await client.get(f"/v1/instances/{name}/webhook/deliveries"))["deliveries"]
    assert [(d["event"], d["status"]) for d in log] == [("message_received", "delivered")], log

    await refuses_bad_signatures(n8n_rest, webhook["url"], workflow["id"], name)
    refresh = os.environ.get("WAGATE_REFRESH_DOC_IMAGES") == "1"
    screenshot = DOC_SCREENSHOT if refresh else tmp_path / DOC_SCREENSHOT.name
    await screenshot_workflow(n8n, workflow["id"], screenshot)
    assert screenshot.read_bytes().startswith(b"\x89PNG"), "the editor's screenshot"

    await set_active(n8n_rest, workflow, False)
    gone = await client.get(f"/v1/instances/{name}/webhook")
    assert gone.status_code == 404, gone.text


async def refuses_bad_signatures(
    rest: httpx.AsyncClient, hook: str, workflow_id: str, instance: str
) -> None:
    """A delivery signed with another secret, or unsigned, is refused 401 and starts nothing."""
    body = json.dumps(
        {
            "id": "evt_forged",
            "event": "message_received",
            "instance": instance,
            "timestamp": "2026-12-05T00:00:00Z",
            "data": {"chat": SENDER_JID, "from": SENDER_JID, "from_me": False, "text": "forged"},
        }
    ).encode()
    before = len(await executions(rest, workflow_id))
    forged = f"t={int(time.time())},v1={'0' * 64}"
    async with httpx.AsyncClient(timeout=30) as http:
        for headers in ({"X-Wagate-Signature": forged}, {}):
            answer = await http.post(
                hook, content=body, headers={"Content-Type": "application/json", **headers}
            )
            assert answer.status_code == 401, answer.text
    assert len(await executions(rest, workflow_id)) == before


async def screenshot_workflow(n8n: N8n, workflow_id: str, path: Path) -> None:
    """The editor, signed in through its own sign-in page, showing the workflow, as a PNG at
    `path`."""

    async def loopback_only(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        await (route.continue_() if host == "127.0.0.1" else route.abort())

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 720})
            await context.route("**/*", loopback_only)
            page = await context.new_page()
            page.set_default_timeout(30_000)
            await page.goto(f"{n8n.url}/signin")
            await page.locator("input[type=email]").fill(OWNER["email"])
            await page.locator("input[type=password]").fill(OWNER["password"])
            await page.locator("input[type=password]").press("Enter")
            await page.wait_for_url(lambda url: "/signin" not in url)
            await page.goto(f"{n8n.url}/workflow/{workflow_id}")
            nodes = page.locator("[data-test-id=canvas-node]")
            await nodes.nth(1).wait_for()
            await page.wait_for_timeout(1000)
            path.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(path))
        finally:
            await browser.close()


def wagate_node(name: str, x: int, credential: str, **parameters: Any) -> dict[str, Any]:
    """An action node that runs once whatever its input (a list answer gives many items)."""
    return {
        "id": str(uuid.uuid4()),
        "name": name,
        "type": "n8n-nodes-wagate.wagate",
        "typeVersion": 1,
        "position": [x, 0],
        "executeOnce": True,
        "parameters": parameters,
        "credentials": {"wagateApi": {"id": credential, "name": "wagate shop"}},
    }


def chain(path: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """n8n's own Webhook node, answering with the last node's first item, then `nodes` in a row."""
    hook = {
        "id": str(uuid.uuid4()),
        "name": "Webhook",
        "type": "n8n-nodes-base.webhook",
        "typeVersion": 2,
        "position": [-300, 0],
        "webhookId": str(uuid.uuid4()),
        "parameters": {
            "httpMethod": "POST",
            "path": path,
            "responseMode": "lastNode",
            "responseData": "firstEntryJson",
        },
    }
    names = [hook["name"], *(node["name"] for node in nodes)]
    connections = {
        a: {"main": [[{"node": b, "type": "main", "index": 0}]]}
        for a, b in itertools.pairwise(names)
    }
    return {
        "name": f"wagate operations {path}",
        "nodes": [hook, *nodes],
        "connections": connections,
        "settings": {"executionOrder": "v1"},
        "active": False,
    }


# What the nodes of test_action_operations gave, read by n8n's expressions.
GATHER = {
    "status": "$('Status').first().json.status",
    "on_whatsapp": "$('Check').first().json.on_whatsapp",
    "record": "$('Record').first().json.kind + ' ' + $('Record').first().json.to",
    "poll": "$('Poll').first().json.status",
    "group": "$('Group again').first().json.subject + ' '"
    " + $('Group again').first().json.participants.map(p => p.jid).sort().join(',')",
    "history": "$('History').all().map(i => i.json.kind).join(',')",
    "chats": "$('Chats').all().map(i => i.json.jid).join(',')",
}


def gathered(x: int, fields: dict[str, str]) -> dict[str, Any]:
    """n8n's Set node with one field per expression, on its own (no input fields kept)."""
    types = {"on_whatsapp": "boolean"}
    assignments = [
        {
            "id": str(uuid.uuid4()),
            "name": name,
            "value": f"={{{{ {expression} }}}}",
            "type": types.get(name, "string"),
        }
        for name, expression in fields.items()
    ]
    return {
        "id": str(uuid.uuid4()),
        "name": "Gather",
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "position": [x, 0],
        "executeOnce": True,
        "parameters": {
            "mode": "manual",
            "assignments": {"assignments": assignments},
            "options": {},
        },
    }


async def run_chain(
    rest: httpx.AsyncClient,
    n8n: N8n,
    nodes: list[dict[str, Any]],
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> tuple[httpx.Response, str]:
    """Imports and activates the chain, calls its webhook (with `files` as a multipart upload,
    which n8n's Webhook node makes binary properties); the answer and the workflow's id."""
    path = uuid.uuid4().hex
    workflow = ok(await rest.post("/workflows", json=chain(path, nodes)))
    await set_active(rest, workflow, True)
    async with httpx.AsyncClient(timeout=60) as http:
        hook = f"{n8n.url}/webhook/{path}"
        answer = await (http.post(hook, files=files) if files else http.post(hook, json={}))
    await set_active(rest, workflow, False)
    return answer, str(workflow["id"])


async def test_action_operations(
    client: httpx.AsyncClient, base_url: str, n8n: N8n, n8n_rest: httpx.AsyncClient
) -> None:
    """Each resource of the action node, in one workflow: every node must succeed (a refusal
    of the gateway fails the execution), and what they did is seen on the gateway."""
    linked = await linked_instance(client)
    name = linked["name"]
    credential = await create_credential(n8n_rest, base_url, linked["token"])
    node = functools.partial(wagate_node, credential=credential, instance=name)
    image = json.dumps({"base64": base64.b64encode(png_bytes()).decode()})
    nodes = [
        node(
            "Send file",
            -100,
            resource="message",
            operation="send",
            kind="document",
            to=SENDER,
            binaryProperty="file",
        ),
        node("Status", 0, resource="instance", operation="get"),
        node("Check", 200, resource="contact", operation="check", phones=SENDER),
        node(
            "Send image",
            400,
            resource="message",
            operation="send",
            kind="image",
            to=SENDER,
            media=image,
            caption="from n8n",
            **QUEUED,
        ),
        node(
            "Record",
            600,
            resource="message",
            operation="get",
            correlationId="={{ $json.correlation_id }}",
        ),
        node(
            "Poll",
            800,
            resource="message",
            operation="send",
            kind="poll",
            to=SENDER,
            question="Lunch?",
            options='["yes", "no"]',
        ),
        node(
            "Group",
            1000,
            resource="group",
            operation="create",
            subject="n8n group",
            participants=SENDER,
        ),
        node("Group again", 1200, resource="group", operation="get", group="={{ $json.jid }}"),
        node("History", 1400, resource="chat", operation="history", chat=SENDER),
        node("Chats", 1600, resource="chat", operation="list"),
        gathered(1800, GATHER),
    ]
    upload = {"file": ("report.pdf", PDF, "application/pdf")}
    answer, workflow_id = await run_chain(n8n_rest, n8n, nodes, files=upload)
    assert answer.status_code == 200, await last_run(n8n_rest, workflow_id)
    assert answer.json() == {
        "status": "connected",
        "on_whatsapp": True,
        "record": f"image {SENDER_JID.split('@')[0]}",
        "poll": "sent",
        "group": "n8n group " + ",".join(sorted([linked["jid"], SENDER_JID])),
        "history": "poll,image,document",
        "chats": SENDER_JID,
    }
    runs = await executions(n8n_rest, workflow_id)
    assert [run["status"] for run in runs] == ["success"], runs

    sent = {m["kind"]: m for m in await outbox(client, name)}
    assert sent["image"]["to"] == SENDER_JID and sent["image"]["body"]["caption"] == "from n8n"
    assert sent["poll"]["body"]["options"] == ["yes", "no"], sent["poll"]
    # The file the webhook received, sent from the item's binary property with its name.
    document = sent["document"]["body"]
    assert document["filename"] == "report.pdf", document
    assert document["media"]["mimetype"] == "application/pdf", document
    assert document["media"]["size"] == len(PDF), document


async def test_gateway_refusal_is_an_n8n_error_with_its_code(
    client: httpx.AsyncClient, base_url: str, n8n: N8n, n8n_rest: httpx.AsyncClient
) -> None:
    """A number without WhatsApp: the gateway's 422 not_on_whatsapp becomes the node's error,
    which a node set to continue on error hands on as an item."""
    linked = await linked_instance(client)
    credential = await create_credential(n8n_rest, base_url, linked["token"])
    send = wagate_node(
        "Send",
        0,
        credential,
        instance=linked["name"],
        resource="message",
        operation="send",
        kind="text",
        to="+5511900000000",
        text="anyone there?",
    )
    answer, _ = await run_chain(n8n_rest, n8n, [{**send, "onError": "continueRegularOutput"}])
    assert answer.status_code == 200, answer.text
    error = answer.json()["error"]
    assert error.startswith("not_on_whatsapp: "), error
