"""A loopback fake of Twilio's REST API for Messages.create, driven by the real twilio client.

Point the client at it with `TWILIO_API_BASE_URL` (`fake.settings(base)` does it). Every POST to
`/2010-04-01/Accounts/<sid>/Messages.json` is recorded in `fake.messages` with its form fields and the
basic-auth account. Answers are 201 with a Twilio-shaped message unless scripted:

    fake.script(429, 201)                     # rate limited once, then accepted
    fake.script(500, 500)                     # two server errors (the rest is accepted)
    fake.script((400, 21211))                 # invalid 'To' number
    fake.script((400, 63016, "outside window")), fake.script("drop")   # close the connection unanswered
    fake.script(Reply(late=2.0))              # accept it at once, answer only after 2 s
    fake.script(429, to="whatsapp:+62811...") # the next request to that recipient only

Messages to different recipients are sent concurrently, so a script meant for one message names its
recipient.

A GET of the same path lists the accepted messages as Twilio's Messages API does (`To`, `From` and
`DateSent>` filters, newest first), recorded in `fake.lookups`. `FakeTwilio(latency=(0.15, 0.3))`
answers every request after a random delay in that range, `refuse_share=0.05` refuses a seeded 5 % of
messages once each (429 or 500) before accepting them. `python -m tests.fakes.twilio_server --port N`
runs it as a process of its own (the benchmarks do); `GET /_fake/records` then returns what it got.

`sign(url, params, token)` signs a webhook request the way Twilio does (for `X-Twilio-Signature`).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import json
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from core.settings import Settings

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
WHATSAPP_FROM = "whatsapp:+14155238886"
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")

_ERROR_TEXT = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21610: "Attempt to send to unsubscribed recipient",
    63016: "Failed to send freeform message because you are outside the allowed window.",
}
_DEFAULT_CODE = {400: 21211, 401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    """The `X-Twilio-Signature` Twilio would send for a POST of `params` to `url`."""
    return RequestValidator(token).compute_signature(url, params)


@dataclasses.dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP status with a Twilio error code, `drop` (no answer at all), or `late`
    (accepted at once, the answer sent only after that many seconds)."""

    status: int = 201
    code: int | None = None
    message: str | None = None
    drop: bool = False
    late: float = 0.0

    @classmethod
    def of(cls, item: Reply | int | str | tuple) -> Reply:
        if isinstance(item, Reply):
            return item
        if item == "drop":
            return cls(drop=True)
        if isinstance(item, int):
            return cls(item)
        return cls(*item)


class FakeTwilio:
    def __init__(
        self,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        *,
        port: int = 0,
        latency: tuple[float, float] = (0.0, 0.0),
        refuse_share: float = 0.0,
        seed: int = 1,
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self.lookups: list[dict[str, str]] = []
        self.latency = latency
        self.refuse_share = refuse_share
        self._seed = seed
        self._refused: set[str] = set()
        self._random = random.Random(seed)
        self._replies: deque[Reply] = deque()
        self._replies_to: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def accepted(self) -> list[dict[str, Any]]:
        """The recorded requests Twilio accepted (201)."""
        return [m for m in self.messages if m["response_status"] == 201]

    def script(self, *replies: Reply | int | str | tuple, to: str | None = None) -> None:
        """Queue answers for the next requests (`to`: to that recipient), in order; once used up, requests
        are accepted."""
        with self._lock:
            queue = self._replies if to is None else self._replies_to.setdefault(to, deque())
            queue.extend(Reply.of(r) for r in replies)

    def settings(self, base: Settings | None = None, **overrides: Any) -> Settings:
        """`base` (default: Settings()) wired to this fake: credentials, sender and API base URL."""
        fields: dict[str, Any] = {
            "twilio_account_sid": self.account_sid,
            "twilio_auth_token": self.auth_token,
            "twilio_whatsapp_from": WHATSAPP_FROM,
            "twilio_api_base_url": self.base_url,
        }
        fields.update(overrides)
        return dataclasses.replace(base or Settings(), **fields)

    @property
    def env(self) -> dict[str, str]:
        """The same wiring as environment variables (for code that reads `Settings.from_env()`)."""
        return {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_WHATSAPP_FROM": WHATSAPP_FROM,
            "TWILIO_API_BASE_URL": self.base_url,
        }

    def sign(self, url: str, params: dict[str, str]) -> str:
        return sign(url, params, self.auth_token)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._replies.clear()
            self._replies_to.clear()

    def start(self) -> FakeTwilio:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # Called from the server threads.
    def _delay(self) -> float:
        low, high = self.latency
        with self._lock:
            return self._random.uniform(low, high) if high > 0 else 0.0

    def _refuse_first(self, form: dict[str, str]) -> Reply | None:
        """`refuse_share`: a seeded share of messages is refused once (429 or 500), then accepted."""
        if not self.refuse_share:
            return None
        key = f"{self._seed}:{form.get('To')}:{form.get('Body')}:{form.get('ContentSid')}"
        digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        if digest % 10_000 >= self.refuse_share * 10_000 or key in self._refused:
            return None
        self._refused.add(key)
        return Reply(429 if digest % 2 else 500)

    def _authorised(self, path: str, authorization: str | None) -> tuple[Reply | None, str | None]:
        match = MESSAGES_PATH.match(path)
        account, password = _basic_auth(authorization)
        if match is None:
            return Reply(404, 20404), account
        if account != self.account_sid or password != self.auth_token or match["account"] != account:
            return Reply(401, 20003), account
        return None, account

    def _list(self, path: str, query: dict[str, str], authorization: str | None) -> tuple[Reply, dict]:
        refused, _ = self._authorised(path, authorization)
        if refused is not None:
            return refused, _error_json(refused)
        since = query.get("DateSent>")
        with self._lock:
            self.lookups.append(dict(query))
            found = [
                _message_json(self.account_sid, m)
                for m in reversed(self.messages)
                if m.get("sid")
                and query.get("To") in (None, m.get("To"))
                and query.get("From") in (None, m.get("From"))
                and (since is None or m["date_sent"][:10] >= since[:10])
            ]
        size = int(query.get("PageSize") or 50)
        return Reply(200), {"messages": found[:size], "next_page_uri": None, "page": 0, "page_size": size}

    def _answer(
        self, path: str, authorization: str | None, form: dict[str, str], arrived: float
    ) -> tuple[Reply, dict]:
        refused, account = self._authorised(path, authorization)
        record: dict[str, Any] = {**form, "account": account, "path": path, "received_at": arrived}
        with self._lock:
            if refused is not None:
                reply = refused
            else:
                scripted = self._replies_to.get(form.get("To", "")) or self._replies
                reply = scripted.popleft() if scripted else self._refuse_first(form) or Reply(201)
            record["response_status"] = None if reply.drop else reply.status
            record["late"] = reply.late
            if reply.drop:
                payload = {}
            elif reply.status == 201:
                record["sid"] = "SM" + secrets.token_hex(16)
                record["date_sent"] = datetime.now(UTC).isoformat()
                payload = _message_json(self.account_sid, record)
            else:
                payload = _error_json(reply)
                record["error_code"] = payload["code"]
            self.messages.append(record)
        return reply, payload


def _error_json(reply: Reply) -> dict[str, Any]:
    code = reply.code or _DEFAULT_CODE.get(reply.status, 20500)
    return {
        "code": code,
        "message": reply.message or _ERROR_TEXT.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": reply.status,
    }


def _basic_auth(header: str | None) -> tuple[str | None, str | None]:
    if not header or not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return None, None
    return user, password


def _message_json(account_sid: str, record: dict[str, Any]) -> dict[str, Any]:
    sent = datetime.fromisoformat(record["date_sent"]) if record.get("date_sent") else None
    stamp = format_datetime(sent, usegmt=True) if sent else formatdate(usegmt=True)
    sid = record["sid"]
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json"
    return {
        "account_sid": account_sid,
        "api_version": "2010-04-01",
        "body": record.get("Body", ""),
        "date_created": stamp,
        "date_sent": stamp,
        "date_updated": stamp,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": record.get("From"),
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "queued",
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": record.get("To"),
        "uri": uri,
    }


def _handler_for(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            arrived = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            form = {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}
            delay = fake._delay()
            reply, payload = fake._answer(self.path, self.headers.get("Authorization"), form, arrived)
            if reply.drop:
                self.close_connection = True
                self.connection.close()
                return
            time.sleep(delay + reply.late)
            self._json(reply.status, payload)

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            if parts.path == "/_fake/records":
                with fake._lock:
                    self._json(200, {"messages": fake.messages, "lookups": fake.lookups})
                return
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            reply, payload = fake._list(parts.path, query, self.headers.get("Authorization"))
            self._json(reply.status, payload)

        def _json(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up waiting (a late answer)
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    try:
        yield fake
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A loopback fake of Twilio's Messages API")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", default="0,0", help="seconds before each answer: low,high")
    parser.add_argument("--refuse-share", type=float, default=0.0, help="messages refused once (429/500)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    low, high = (float(v) for v in args.latency.split(","))
    fake = FakeTwilio(port=args.port, latency=(low, high), refuse_share=args.refuse_share, seed=args.seed)
    print(fake.base_url, flush=True)
    try:
        fake._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
