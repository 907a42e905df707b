"""A loopback fake of Xendit's invoice API, driven by the real `xendit-python` SDK, plus its callbacks.

Point the SDK at it with `XENDIT_API_BASE_URL` = `fake.base_url` (the SDK builds every URL as
`Configuration.host + endpoint path`). It answers the paths the SDK's `InvoiceApi` calls:

    POST /v2/invoices/                create (records and stores the invoice, status PENDING)
    GET  /v2/invoices/<id>            get by id (404 INVOICE_NOT_FOUND_ERROR when unknown)
    GET  /v2/invoices?external_id=..  list, newest first (Xendit does not make external_id unique)
    POST /invoices/<id>/expire!       expire now

Every request is recorded in `fake.requests` (method, path, query, headers, JSON body, the status it got).
Basic auth must carry `fake.secret_key`, as Xendit's does. Answers are real-shaped unless scripted:

    fake.script(500, 429)         # a server error, then rate limited; later requests are served
    fake.script((400, "API_VALIDATION_ERROR", "amount must be at least 1"))
    fake.script("timeout")        # the request IS carried out, but the answer never comes (the lost
                                  # response a retry must not turn into a second invoice)
    fake.script("drop")           # the connection is closed before anything is done
    fake.script(Reply(502, html="<html>Bad Gateway</html>"))   # not even Xendit's JSON

Invoices change state the way payment does (`fake.pay(id)`, `fake.expire(id)`), and each change gives the
callback Xendit would post: `fake.post_callback(url, fake.pay(id))` sends it with `x-callback-token`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import secrets
import threading
from collections import deque
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

SECRET_KEY = "xnd_development_fake_secret_key_0123456789abcdef"
CALLBACK_TOKEN = "fake-callback-token-0123456789abcdef"
USER_ID = "5f0000000000000000000001"
MERCHANT_NAME = "Laku Grosir"
DEFAULT_DURATION_SECONDS = 86400
CALLBACK_TOKEN_HEADER = "x-callback-token"

_ERROR_CODES = {
    400: ("API_VALIDATION_ERROR", "Invalid request"),
    401: ("INVALID_API_KEY", "API key is not authorized for this API service"),
    403: ("REQUEST_FORBIDDEN_ERROR", "The API key is forbidden to perform this request"),
    404: ("INVOICE_NOT_FOUND_ERROR", "Invoice not found"),
    429: ("RATE_LIMIT_EXCEEDED", "You have exceeded the rate limit"),
    500: ("SERVER_ERROR", "Something unexpected happened, we are investigating this issue right now"),
    503: ("SERVICE_UNAVAILABLE", "Service is temporarily unavailable"),
}


@dataclasses.dataclass(frozen=True)
class Reply:
    """One scripted answer: an HTTP error (nothing done), `timeout` (done, never answered) or `drop`.
    `html`: answer the error with this page instead of Xendit's JSON (a gateway in between)."""

    status: int = 200
    error_code: str | None = None
    message: str | None = None
    timeout: bool = False
    drop: bool = False
    html: str | None = None

    @classmethod
    def of(cls, item: Reply | int | str | tuple) -> Reply:
        if isinstance(item, Reply):
            return item
        if item == "timeout":
            return cls(timeout=True)
        if item == "drop":
            return cls(drop=True)
        if isinstance(item, int):
            return cls(item)
        if isinstance(item, tuple):
            return cls(*item)
        raise ValueError(f"not a scripted reply: {item!r}")


@dataclasses.dataclass(frozen=True)
class Callback:
    """An invoice callback as Xendit posts it: the JSON body and its headers."""

    payload: dict[str, Any]
    headers: dict[str, str]

    @property
    def body(self) -> bytes:
        return json.dumps(self.payload).encode()


def _stamp(moment: datetime) -> str:
    """Xendit's timestamps: ISO 8601 in UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _object_id() -> str:
    return secrets.token_hex(12)


class FakeXendit:
    def __init__(
        self,
        secret_key: str = SECRET_KEY,
        callback_token: str = CALLBACK_TOKEN,
        clock: Any = None,
    ):
        self.secret_key = secret_key
        self.callback_token = callback_token
        self.requests: list[dict[str, Any]] = []
        self.invoices: dict[str, dict[str, Any]] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-xendit", daemon=True
        )

    # --- wiring ---------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def env(self) -> dict[str, str]:
        """The wiring as environment variables (for code that reads `Settings.from_env()`)."""
        return {
            "XENDIT_SECRET_KEY": self.secret_key,
            "XENDIT_CALLBACK_TOKEN": self.callback_token,
            "XENDIT_API_BASE_URL": self.base_url,
        }

    def start(self) -> FakeXendit:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # let any request held by a scripted "timeout" finish
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.invoices.clear()
            self._replies.clear()

    def script(self, *replies: Reply | int | str | tuple) -> None:
        """Queue answers for the next API requests, in order; once used up, requests are served."""
        with self._lock:
            self._replies.extend(Reply.of(r) for r in replies)

    # --- what happened ----------------------------------------------------------------------------------

    def calls(self, method: str | None = None, path_prefix: str = "") -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if (method is None or r["method"] == method) and r["path"].startswith(path_prefix)
        ]

    @property
    def creates(self) -> list[dict[str, Any]]:
        """Every create-invoice request received (answered or not)."""
        return [r for r in self.calls("POST", "/v2/invoices")]

    def invoices_for(self, external_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self.invoices.values() if i["external_id"] == external_id]

    # --- payment happening at Xendit --------------------------------------------------------------------

    def pay(
        self,
        invoice_id: str,
        *,
        paid_amount: float | int | None = None,
        currency: str | None = None,
        payment_method: str = "BANK_TRANSFER",
        payment_channel: str = "BCA",
        token: str | None = None,
    ) -> Callback:
        """The buyer paid: the invoice turns PAID; returns the callback Xendit would post. `paid_amount` and
        `currency` default to the invoice's; give others to build a mismatching payment."""
        at = self._clock()
        with self._lock:
            invoice = self.invoices[invoice_id]
            invoice.update(
                status="PAID",
                paid_amount=invoice["amount"] if paid_amount is None else paid_amount,
                paid_at=_stamp(at),
                updated=_stamp(at),
                payment_method=payment_method,
                payment_channel=payment_channel,
                payment_destination="8808" + invoice_id[-8:],
                bank_code=payment_channel if payment_method == "BANK_TRANSFER" else None,
                payment_id="pymt-" + secrets.token_hex(8),
            )
            if currency is not None:
                invoice["currency"] = currency
            snapshot = dict(invoice)
        return self.callback_for(snapshot, token=token)

    def expire(self, invoice_id: str, *, token: str | None = None) -> Callback:
        """The deadline passed unpaid: the invoice turns EXPIRED; returns the callback Xendit would post."""
        at = self._clock()
        with self._lock:
            invoice = self.invoices[invoice_id]
            invoice.update(status="EXPIRED", updated=_stamp(at), expiry_date=_stamp(at))
            snapshot = dict(invoice)
        return self.callback_for(snapshot, token=token)

    def callback_for(
        self, invoice: dict[str, Any], *, token: str | None = None, **overrides: Any
    ) -> Callback:
        """The invoice callback body for the invoice's current state (Xendit's field names), with the
        `x-callback-token` header (`token=""` leaves the header out; `overrides` replace body fields)."""
        payload: dict[str, Any] = {
            "id": invoice["id"],
            "external_id": invoice["external_id"],
            "user_id": invoice["user_id"],
            "is_high": False,
            "status": invoice["status"],
            "merchant_name": invoice["merchant_name"],
            "amount": invoice["amount"],
            "created": invoice["created"],
            "updated": invoice["updated"],
            "currency": invoice["currency"],
            "description": invoice.get("description"),
        }
        if invoice["status"] in ("PAID", "SETTLED"):
            payload.update(
                paid_amount=invoice["paid_amount"],
                paid_at=invoice["paid_at"],
                payment_method=invoice["payment_method"],
                payment_channel=invoice["payment_channel"],
                payment_destination=invoice["payment_destination"],
                payment_id=invoice["payment_id"],
            )
            if invoice.get("bank_code"):
                payload["bank_code"] = invoice["bank_code"]
        payload.update(overrides)
        headers = {"Content-Type": "application/json"}
        token = self.callback_token if token is None else token
        if token:
            headers[CALLBACK_TOKEN_HEADER] = token
        return Callback(payload, headers)

    def post_callback(self, url: str, callback: Callback, timeout: float = 10) -> requests.Response:
        """POST the callback to a running server (for a Flask test client: `client.post(path,
        data=callback.body, headers=callback.headers)`)."""
        return requests.post(url, data=callback.body, headers=callback.headers, timeout=timeout)

    # --- the API, called from the server threads ---------------------------------------------------------

    def _handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: bytes
    ) -> tuple[Reply, int, Any]:
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        record: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "json": payload,
        }
        with self._lock:
            self.requests.append(record)
            if not self._authorised(headers.get("authorization")):
                reply = Reply(401)
            else:
                reply = self._replies.popleft() if self._replies else Reply()
            if reply.drop:
                record["response_status"] = None
                return reply, 0, None
            if reply.status != 200:
                record["response_status"] = reply.status
                return reply, reply.status, _error(reply)
            status, answer = self._serve(method, path, query, payload)
            record["response_status"] = None if reply.timeout else status
            return reply, status, answer

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            user, _, _password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return secrets.compare_digest(user, self.secret_key)

    def _serve(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        stripped = path.rstrip("/")
        if method == "POST" and stripped == "/v2/invoices":
            return self._create(body)
        if method == "GET" and stripped == "/v2/invoices":
            wanted = query["external_id"][-1] if query.get("external_id") else None
            found = [i for i in self.invoices.values() if wanted is None or i["external_id"] == wanted]
            found.sort(key=lambda i: i["created"], reverse=True)
            return 200, [dict(i) for i in found]
        if method == "GET" and stripped.startswith("/v2/invoices/"):
            invoice = self.invoices.get(stripped.rsplit("/", 1)[-1])
            return (200, dict(invoice)) if invoice else (404, _error(Reply(404)))
        if method == "POST" and stripped.startswith("/invoices/") and stripped.endswith("/expire!"):
            invoice = self.invoices.get(stripped.split("/")[2])
            if not invoice:
                return 404, _error(Reply(404))
            stamp = _stamp(self._clock())
            invoice.update(status="EXPIRED", updated=stamp, expiry_date=stamp)
            return 200, dict(invoice)
        return 404, {"error_code": "NOT_FOUND", "message": f"no route for {method} {path}"}

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, _error(Reply(400, message="body must be a JSON object"))
        external_id, amount = body.get("external_id"), body.get("amount")
        if not isinstance(external_id, str) or not external_id:
            return 400, _error(Reply(400, message='"external_id" is required'))
        if not isinstance(amount, int | float) or isinstance(amount, bool) or amount < 1:
            return 400, _error(Reply(400, message='"amount" must be a number of at least 1'))
        duration = body.get("invoice_duration", DEFAULT_DURATION_SECONDS)
        if not isinstance(duration, int | float) or duration != int(duration) or duration < 1:
            return 400, _error(Reply(400, message='"invoice_duration" must be an integer'))
        amount, duration = _as_json_number(amount), _as_json_number(duration)
        currency = body.get("currency") or "IDR"
        if currency not in ("IDR", "PHP", "THB", "VND", "MYR", "USD"):
            return 400, _error(Reply(400, "UNSUPPORTED_CURRENCY", f"currency {currency} is not supported"))
        at = self._clock()
        invoice_id = _object_id()
        invoice: dict[str, Any] = {
            "id": invoice_id,
            "external_id": external_id,
            "user_id": USER_ID,
            "status": "PENDING",
            "merchant_name": MERCHANT_NAME,
            "merchant_profile_picture_url": "https://du8nwjtfkinx.cloudfront.net/xendit.png",
            "amount": amount,
            "description": body.get("description"),
            "expiry_date": _stamp(at + timedelta(seconds=int(duration))),
            "invoice_url": f"{self.base_url}/web/{invoice_id}",
            "available_banks": [
                {
                    "bank_code": "BCA",
                    "collection_type": "POOL",
                    "transfer_amount": amount,
                    "bank_branch": "Virtual Account",
                    "account_holder_name": MERCHANT_NAME.upper(),
                    "identity_amount": 0,
                }
            ],
            "available_retail_outlets": [],
            "available_ewallets": [{"ewallet_type": "OVO"}],
            "available_qr_codes": [{"qr_code_type": "QRIS"}],
            "available_direct_debits": [],
            "available_paylaters": [],
            "should_exclude_credit_card": False,
            "should_send_email": bool(body.get("should_send_email", False)),
            "created": _stamp(at),
            "updated": _stamp(at),
            "currency": currency,
        }
        for key in ("customer", "items", "fees", "metadata", "payer_email", "locale"):
            if body.get(key) is not None:
                invoice[key] = body[key]
        self.invoices[invoice_id] = invoice
        return 200, dict(invoice)


def _as_json_number(value: int | float) -> int | float:
    """What a JavaScript service sees: 150000.0 and 150000 are one number (the SDK sends floats)."""
    return int(value) if float(value).is_integer() else value


def _error(reply: Reply) -> dict[str, Any]:
    code, message = _ERROR_CODES.get(reply.status, ("SERVER_ERROR", "Error"))
    return {"error_code": reply.error_code or code, "message": reply.message or message}


def _handler_for(fake: FakeXendit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            reply, status, answer = fake._handle(self.command, self.path, headers, body)
            if reply.timeout:
                fake._release.wait(timeout=30)  # outlive the client's read timeout, then hang up
            if reply.drop or reply.timeout:
                self.close_connection = True
                self.connection.close()
                return
            if reply.html is not None:
                data, content_type = reply.html.encode(), "text/html; charset=utf-8"
            else:
                data, content_type = json.dumps(answer).encode(), "application/json; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
            pass

    return Handler


@pytest.fixture
def fake_xendit() -> Iterator[FakeXendit]:
    fake = FakeXendit().start()
    try:
        yield fake
    finally:
        fake.stop()
