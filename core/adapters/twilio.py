"""The Twilio transport: the real Twilio client, and its answers mapped onto retry or give-up.

`TWILIO_API_BASE_URL` points the client at another host (tests run a loopback fake): twilio 9 builds
every Messages.create URL as `client.api.base_url + /2010-04-01/Accounts/<sid>/Messages.json`.
"""

from __future__ import annotations

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from core.delivery import PermanentSendError, SendError, TransientSendError
from core.phones import WHATSAPP_PREFIX, whatsapp_address
from core.settings import ConfigError, Settings

HTTP_TIMEOUT_SECONDS = 15
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# HTTP statuses worth another try. 401 is here on purpose: bad credentials are an account problem that an
# operator fixes, not a property of the message, so the message waits (and is alerted on if it runs out
# of attempts) instead of failing at once.
_TRANSIENT_HTTP = {401, 408, 409, 425, 429}
_TRANSIENT_CODES = {20429, 20500, 20503}


def make_client(settings: Settings) -> Client:
    if settings.console_transport:
        raise ConfigError("TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed for the Twilio client")
    client = Client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        http_client=TwilioHttpClient(timeout=HTTP_TIMEOUT_SECONDS),
    )
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
            raise TransientSendError(f"network: {type(error).__name__}: {error}") from error
        if not message.sid:
            raise TransientSendError("twilio accepted the request but returned no message sid")
        return message.sid


def _as_int(value: int | str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
