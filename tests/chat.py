"""Drive the real webhook like Twilio does: signed form posts, one MessageSid per message."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from xml.etree import ElementTree

from twilio.request_validator import RequestValidator

WEBHOOK = "/webhooks/twilio/whatsapp"
AUTH_TOKEN = "test-twilio-auth-token"
_sids = itertools.count(1)


def sign(url: str, form: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, form)


def reply_text(response) -> str:
    root = ElementTree.fromstring(response.data)
    return "\n".join((m.findtext("Body") or m.text or "") for m in root.iter("Message"))


class Phone:
    """One WhatsApp user talking to the app through Flask's test client."""

    def __init__(self, client, number: str, name: str = "Buyer", base_url: str = "http://localhost"):
        self.client = client
        self.number = number
        self.name = name
        self.base_url = base_url

    def form(self, body: str, sid: str | None = None, **extra) -> dict:
        return {
            "MessageSid": sid or f"SM{next(_sids):032x}",
            "From": f"whatsapp:{self.number}",
            "WaId": self.number.lstrip("+"),
            "ProfileName": self.name,
            "Body": body,
            **extra,
        }

    def post(self, form: dict, signature: str | None = None):
        signature = signature if signature is not None else sign(self.base_url + WEBHOOK, form)
        return self.client.post(WEBHOOK, data=form, headers={"X-Twilio-Signature": signature})

    def send(self, body: str, **extra) -> str:
        response = self.post(self.form(body, **extra))
        assert response.status_code == 200, response.data
        assert response.mimetype == "text/xml"
        text = reply_text(response)
        assert len(text) <= 1600
        return text


def talk(
    client, *, named: bool = True, clean: Callable[[str], str] | None = None
) -> Callable[[str, str], str]:
    """`say(number, text)` -> the reply, through a signed webhook post; one `Phone` per number, named
    "Pembeli <last digit>" (or the default "Buyer" when not `named`), each reply passed through `clean`."""
    phones: dict[str, Phone] = {}

    def say(number: str, text: str) -> str:
        if number not in phones:
            phones[number] = (
                Phone(client, number, f"Pembeli {number[-1]}") if named else Phone(client, number)
            )
        reply = phones[number].send(text)
        return clean(reply) if clean else reply

    return say


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text)


SHARE_LINE = re.compile(r"\s*📣 [^\n]*: https://wa\.me/\d+\?text=(IKUT|JOIN)%20[A-Z0-9-]+%20REF-[0-9A-Z]{6}$")


def without_share_line(reply: str) -> str:
    """A join or INFO reply without its share prompt (the last line), which must be there."""
    assert SHARE_LINE.search(reply), reply
    return SHARE_LINE.sub("", reply)


REMINDERS_ON = (
    "🔔 Pengingat: menyala (BERHENTI untuk mematikan)",
    "🔔 Reminders: on (STOP to turn them off)",
)


def without_prompts(reply: str) -> str:
    """A reply without what reminders and sharing add at its end (a join's or INFO's share prompt, STATUS's
    "reminders on" line), for tests about something else; tests/test_sharing.py checks them."""
    reply = SHARE_LINE.sub("", reply)
    lines = reply.split("\n")
    return "\n".join(lines[:-1]) if lines[-1] in REMINDERS_ON else reply
