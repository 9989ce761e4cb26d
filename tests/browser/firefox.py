"""A small WebDriver BiDi client for driving Debian's firefox-esr in the browser tests.

Playwright drives only its own patched Firefox, and geckodriver is not packaged for Debian
(its npm/PyPI installers download from GitHub), so the tests talk to Firefox's built-in
remote agent directly: `firefox-esr --headless --remote-debugging-port=0` prints the
WebSocket it listens on, and everything here is a BiDi command over that socket
(https://w3c.github.io/webdriver-bidi/). Clicks and typing are real input events
(`input.performActions`), not DOM calls, so they go through the browser's own hit testing,
focus and keyboard handling.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import websockets

# Quiet, deterministic profile: no first-run pages, no update or telemetry traffic, and
# nothing fetched from Mozilla's servers (the test machines have no internet).
PREFS = {
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "messaging-system.rsexperimentloader.enabled": False,
    "services.settings.server": "data:,#remote-settings-disabled",
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.getAddons.cache.enabled": False,
}
LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")
KEYS = {
    "Tab": "\ue004",
    "Enter": "\ue007",
    "Escape": "\ue00c",
    "ArrowLeft": "\ue012",
    "ArrowRight": "\ue014",
}


# Resolves true once the element is visible, enabled, scrolled to, and in the same place two
# frames later; false (polled again) otherwise.
STILL_IN_VIEW = """(sel) => new Promise((done) => {
  const el = document.querySelector(sel);
  if (!el || !el.checkVisibility() || el.disabled) return done(false);
  const focused = document.activeElement;
  if (focused && focused !== el && focused.matches("input, textarea")) focused.blur();
  el.scrollIntoView({block: "center", inline: "nearest"});
  const at = el.getBoundingClientRect();
  requestAnimationFrame(() => requestAnimationFrame(() => {
    const now = el.getBoundingClientRect();
    done(now.top === at.top && now.left === at.left);
  }));
})"""


class BidiError(AssertionError):
    pass


class Firefox:
    """One headless Firefox process and its BiDi session, driving one tab (`context`)."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        self.binary = binary
        self.profile = profile
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.socket: Any = None
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None
        # What the page did wrong on its own: uncaught errors, console errors, 5xx answers.
        self.problems: list[str] = []
        self.context = ""
        # Where a failed wait saves what the page looked like.
        self.failure_shot: Path | None = None

    async def start(self) -> None:
        self.profile.mkdir(parents=True, exist_ok=True)
        user_js = "".join(
            f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items()
        )
        (self.profile / "user.js").write_text(user_js)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    "--headless",
                    "--no-remote",
                    "--remote-debugging-port=0",
                    "--profile",
                    str(self.profile),
                    "about:blank",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = await self._wait_for_socket()
        self.socket = await websockets.connect(f"{url}/session", max_size=None)
        self.reader = asyncio.create_task(self._read())
        await self.command("session.new", {"capabilities": {}})
        await self.command(
            "session.subscribe", {"events": ["log.entryAdded", "network.responseCompleted"]}
        )
        # A tab of our own: the start-up tab of a headless Firefox never gets focus, so in it
        # :focus and :focus-visible never match and keyboard checks would see nothing.
        made = await self.command("browsingContext.create", {"type": "tab"})
        self.context = made["context"]

    async def _wait_for_socket(self, timeout: float = 30) -> str:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING.search(self.log.read_text(errors="replace"))
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            await asyncio.sleep(0.1)
        raise BidiError(f"Firefox did not start its remote agent:\n{self.log.read_text()[-2000:]}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.command("browser.close", {}), 10)
        if self.reader:
            self.reader.cancel()
        if self.socket is not None:
            with contextlib.suppress(Exception):
                await self.socket.close()
        if self.process is not None:
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    async def _read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).set_result(message)
            elif message.get("type") == "event":
                self._on_event(message["method"], message["params"])

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "log.entryAdded" and params.get("level") == "error":
            self.problems.append(f"{params.get('type')} error: {params.get('text')}")
        elif method == "network.responseCompleted":
            status = params["response"]["status"]
            if status >= 500:
                request = params["request"]
                self.problems.append(f"{status} from {request['method']} {request['url']}")

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        number = next(self.ids)
        answer: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[number] = answer
        await self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        message = await asyncio.wait_for(answer, 60)
        if message.get("type") == "error":
            raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
        result: dict[str, Any] = message["result"]
        return result

    # --- the page -----------------------------------------------------------------------

    async def goto(self, url: str) -> None:
        await self.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def set_viewport(self, width: int, height: int) -> None:
        await self.command(
            "browsingContext.setViewport",
            {"context": self.context, "viewport": {"width": width, "height": height}},
        )

    async def call(self, function: str, *args: Any) -> Any:
        """Runs a JavaScript function in the page with JSON arguments; returns its JSON result."""
        wrapper = (
            "async (args) => { const value = await (" + function + ")(...JSON.parse(args));"
            " return value === undefined ? null : JSON.stringify(value); }"
        )
        result = await self.command(
            "script.callFunction",
            {
                "functionDeclaration": wrapper,
                "arguments": [{"type": "string", "value": json.dumps(args)}],
                "target": {"context": self.context},
                "awaitPromise": True,
            },
        )
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BidiError(f"page script failed: {details.get('text')}")
        value = result["result"]
        return json.loads(value["value"]) if value.get("type") == "string" else None

    async def wait_for(self, function: str, *args: Any, timeout: float = 15, what: str = "") -> Any:
        """Polls a page function until it returns something truthy; fails with its last value."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = await self.call(function, *args)
            if last:
                return last
            await asyncio.sleep(0.1)
        # What the page shows as wrong helps more than the timeout alone.
        errors = await self.call(
            "() => [...document.querySelectorAll('.error')]"
            ".filter((e) => e.checkVisibility()).map((e) => `${e.id}: ${e.textContent}`)"
        )
        if self.failure_shot:
            await self.screenshot(self.failure_shot)
        raise BidiError(
            f"timed out waiting for {what or function}; last value: {last!r};"
            f" errors shown: {errors}; page problems: {self.problems}"
        )

    async def text(self, selector: str, contains: str, timeout: float = 15) -> str:
        """Waits until the element is visible and its text contains `contains`."""
        found: str = await self.wait_for(
            "(sel, part) => { const el = document.querySelector(sel);"
            " return el && el.checkVisibility() && el.textContent.includes(part)"
            " ? el.textContent : null; }",
            selector,
            contains,
            timeout=timeout,
            what=f"{selector} to show {contains!r}",
        )
        return found

    async def _element(self, selector: str) -> str:
        """The shared id of a visible, enabled element, scrolled into view and standing still.

        A text field that still has focus scrolls its caret back into view at a later layout:
        seen in Firefox between a button's pointerdown and pointerup, so the click never
        happened. The field is left first, as the click would leave it, and the element must
        keep its place for two frames."""
        await self.wait_for(STILL_IN_VIEW, selector, what=f"{selector} to be visible and enabled")
        result = await self.command(
            "script.evaluate",
            {
                "expression": f"document.querySelector({json.dumps(selector)})",
                "target": {"context": self.context},
                "awaitPromise": False,
            },
        )
        shared: str = result["result"]["sharedId"]
        return shared

    async def click(self, selector: str) -> None:
        element = await self._element(selector)
        origin = {"type": "element", "element": {"sharedId": element}}
        await self._actions(
            {
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": [
                    {"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                    {"type": "pointerDown", "button": 0},
                    {"type": "pointerUp", "button": 0},
                ],
            }
        )

    async def fill(self, selector: str, text: str) -> None:
        """Clicks into a field, selects what is in it and types `text` over it."""
        await self.click(selector)
        await self.call("(sel) => document.querySelector(sel).select()", selector)
        await self.type(text)

    async def select(self, selector: str, value: str) -> None:
        """Picks an option of a <select> as a user would leave it: value set, events fired."""
        await self._element(selector)
        await self.call(
            "(sel, value) => { const el = document.querySelector(sel);"
            " el.focus(); el.value = value; el.dispatchEvent(new Event('input', {bubbles: true}));"
            " el.dispatchEvent(new Event('change', {bubbles: true})); }",
            selector,
            value,
        )

    async def set_files(self, selector: str, *paths: Path) -> None:
        """Picks files in an <input type=file> as the file dialog would (BiDi input.setFiles:
        the browser reads them from disk and fires input and change)."""
        element = await self._element(selector)
        await self.command(
            "input.setFiles",
            {
                "context": self.context,
                "element": {"sharedId": element},
                "files": [str(path.resolve()) for path in paths],
            },
        )

    async def type(self, text: str) -> None:
        keys: list[dict[str, str]] = []
        for char in text:
            keys += [{"type": "keyDown", "value": char}, {"type": "keyUp", "value": char}]
        await self._actions({"type": "key", "id": "keyboard", "actions": keys})

    async def press(self, key: str) -> None:
        value = KEYS.get(key, key)
        keys = [{"type": "keyDown", "value": value}, {"type": "keyUp", "value": value}]
        await self._actions({"type": "key", "id": "keyboard", "actions": keys})

    async def _actions(self, source: dict[str, Any]) -> None:
        await self.command("input.performActions", {"context": self.context, "actions": [source]})
        await self.command("input.releaseActions", {"context": self.context})

    async def screenshot(self, path: Path) -> None:
        """The whole document, not just the viewport."""
        shot = await self.command(
            "browsingContext.captureScreenshot", {"context": self.context, "origin": "document"}
        )
        path.write_bytes(base64.b64decode(shot["data"]))
