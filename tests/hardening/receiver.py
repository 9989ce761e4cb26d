"""A webhook receiver in a thread (stdlib HTTP server on loopback), usable from sync tests and
by real server processes; it can be switched off (connection refused) and on again."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import free_port


class ThreadReceiver:
    def __init__(self, secret: str | None = None) -> None:
        self.port = free_port()
        self.secret = secret
        self.events: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.badly_signed: list[str] = []  # the events of the deliveries refused
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                good = True
                if receiver.secret is not None:
                    t, _, v1 = self.headers.get("x-wagate-signature", "").partition(",v1=")
                    expected = hmac.new(
                        receiver.secret.encode(),
                        t.removeprefix("t=").encode() + b"." + raw,
                        hashlib.sha256,
                    ).hexdigest()
                    good = hmac.compare_digest(expected, v1)
                with receiver._lock:
                    if good:
                        receiver.events.append(json.loads(raw))
                    else:
                        receiver.bad_signatures += 1
                        receiver.badly_signed.append(str(json.loads(raw).get("event")))
                self.send_response(200 if good else 400)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        return Handler

    def start(self) -> ThreadReceiver:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.events)
