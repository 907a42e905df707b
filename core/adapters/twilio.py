"""The Twilio transport: the real Twilio client, and its answers mapped onto retry or give-up.

`TWILIO_API_BASE_URL` points the client at another host (tests run a loopback fake): twilio 9 builds
every Messages.create URL as `client.api.base_url + /2010-04-01/Accounts/<sid>/Messages.json`.

A request that went out and got no answer (`TWILIO_TIMEOUT_SECONDS` passed, the connection dropped) is
an UnconfirmedSendError: Twilio may have the message, and `sent_since` lists what it has for a recipient
(the Messages API filtered by To, From and date sent) before anything is sent again.
"""

from __future__ import annotations

from datetime import datetime

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from core.delivery import (
    PermanentSendError,
    ProviderMessage,
    SendError,
    TransientSendError,
    UnconfirmedSendError,
)
from core.phones import WHATSAPP_PREFIX, whatsapp_address
from core.settings import ConfigError, Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# HTTP statuses worth another try. 401 is here on purpose: bad credentials are an account problem that an
# operator fixes, not a property of the message, so the message waits (and is alerted on if it runs out
# of attempts) instead of failing at once.
_TRANSIENT_HTTP = {401, 408, 409, 425, 429}
_TRANSIENT_CODES = {20429, 20500, 20503}


def make_client(settings: Settings) -> Client:
    if settings.console_transport:
        raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed for the Twilio client")
    http_client = TwilioHttpClient(timeout=settings.twilio_timeout_seconds)
    # One kept-alive connection per sending thread (twilio's own pool keeps cpu_count + 4 for https and
    # requests' default 10 for http; past that every send opened a new connection, and TLS, again).
    assert http_client.session is not None
    for scheme in ("https://", "http://"):
        http_client.session.mount(scheme, HTTPAdapter(pool_maxsize=settings.outbox_send_threads))
    client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
    if settings.twilio_api_base_url:
        client.api.base_url = settings.twilio_api_base_url.rstrip("/")
        # TWILIO_EDGE / TWILIO_REGION would rewrite the overridden host name.
        client.edge = None
        client.region = None
    return client


def classify(status: int | None, code: int | None, message: str) -> SendError:
    """Twilio's answer -> transient (retry with backoff) or permanent (fail, alert the admin)."""
    text = f"twilio {status or '-'} code {code or '-'}: {message}"
    if status is None or status >= 500 or status in _TRANSIENT_HTTP or code in _TRANSIENT_CODES:
        return TransientSendError(text)
    return PermanentSendError(text)


class TwilioTransport:
    def __init__(self, client: Client, from_: str, status_callback: str | None = None):
        self._client = client
        self._from = from_ if from_.startswith(WHATSAPP_PREFIX) else whatsapp_address(from_)
        self._status_callback = status_callback

    def send(
        self, to: str, body: str, content_sid: str | None = None, content_variables: str | None = None
    ) -> str:
        fields: dict[str, str] = {
            "to": to if to.startswith(WHATSAPP_PREFIX) else whatsapp_address(to),
            "from_": self._from,
        }
        if content_sid:
            fields["content_sid"] = content_sid
            if content_variables:
                fields["content_variables"] = content_variables
        else:
            fields["body"] = body
        if self._status_callback:
            fields["status_callback"] = self._status_callback
        try:
            message = self._client.messages.create(**fields)
        except TwilioRestException as error:
            raise classify(error.status, _as_int(error.code), str(error.msg)) from error
        except TwilioServiceException as error:
            raise classify(error.status, _as_int(error.code), error.detail or error.title) from error
        except requests.RequestException as error:
            text = f"network: {type(error).__name__}: {error}"
            if _may_have_arrived(error):
                raise UnconfirmedSendError(f"no answer, it may have arrived: {text}") from error
            raise TransientSendError(text) from error
        if not message.sid:
            raise UnconfirmedSendError("twilio accepted the request but returned no message sid")
        return message.sid

    def sent_since(self, to: str, since: datetime) -> list[ProviderMessage]:
        """Our sender's API messages to `to` created at `since` or later. Twilio filters by date sent
        to the day, so the time is compared here."""
        address = to if to.startswith(WHATSAPP_PREFIX) else whatsapp_address(to)
        try:
            listed = self._client.messages.list(
                to=address,
                from_=self._from,
                date_sent_after=since.date().isoformat(),
                limit=LOOKUP_LIMIT,
            )
        except TwilioRestException as error:
            raise TransientSendError(f"listing messages: twilio {error.status}: {error.msg}") from error
        except requests.RequestException as error:
            raise TransientSendError(f"listing messages: network: {type(error).__name__}") from error
        return [
            ProviderMessage(m.sid, m.body, m.date_created)
            for m in listed
            if m.sid and m.direction == "outbound-api" and (m.date_created is None or m.date_created >= since)
        ]


LOOKUP_LIMIT = 50
"""A recipient gets a handful of messages a day: the newest 50 since the day of the attempt is plenty."""


def _may_have_arrived(error: requests.RequestException) -> bool:
    """False only when the request surely never reached Twilio (no connection was made)."""
    if isinstance(error, requests.ConnectTimeout):
        return False
    if isinstance(error, requests.ConnectionError):
        reason = error.args[0] if error.args else None
        reason = getattr(reason, "reason", reason)
        return not isinstance(reason, (NewConnectionError, ConnectTimeoutError, NameResolutionError))
    return True


def _as_int(value: int | str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
