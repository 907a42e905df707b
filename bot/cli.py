"""`flask --app bot.app laku ...`: setup tasks and a terminal chat with the bot.

The chat posts to the running server's real webhook (signed when `TWILIO_AUTH_TOKEN` is set), so what
you type behaves exactly as a WhatsApp message would.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from xml.etree import ElementTree

import click
import requests
from flask import Flask
from flask.cli import AppGroup
from pydantic import ValidationError
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot import context
from bot.admin_schemas import ProductIn
from core import catalog, closing, operators, purchase_orders
from core.catalog import VariantSpec
from core.clock import now
from core.errors import DomainError
from core.models import Factory
from core.phones import InvalidPhone, normalise
from core.settings import INSTANCE_DIR

laku = AppGroup("laku", help="Laku Grosir setup and tools.")

DEMO_FACTORY_PHONE = "+6281100000001"
DEMO_OPERATOR = "admin"
DEMO_LOGIN_FILE = INSTANCE_DIR / "demo-login"
DEMO_PRODUCTS = (  # session code, product, SKU, price, units per lot by size, MOQ
    ("KAOS1", "Kaos Polos Cotton Combed 30s", "KAOS30S", 45_000, {"S": 2, "M": 5, "L": 4, "XL": 1}, 24),
    ("FLANEL1", "Kemeja Flanel", "FLANEL", 120_000, {"S": 4, "M": 4, "L": 4, "XL": 4}, 16),
)


@contextmanager
def _refusals_exit() -> Iterator[None]:
    """A domain error exits non-zero naming the field, as the admin API's 4xx does (nothing written)."""
    try:
        yield
    except DomainError as error:
        raise click.ClickException(f"{error.field}: {error.message}") from None


def load_demo(db, days: int = 3) -> list[str]:
    """A factory, a T-shirt (2 S + 5 M + 4 L + 1 XL) and a shirt (4 each), an open session for each."""
    if db.scalar(select(Factory).where(Factory.phone == DEMO_FACTORY_PHONE)):
        return []
    factory = catalog.create_factory(
        db, name="Konveksi Maju Bandung", phone=DEMO_FACTORY_PHONE, address="Jl. Industri No. 8, Bandung"
    )
    ends = now() + timedelta(days=days)
    for code, name, sku, price, mix, moq in DEMO_PRODUCTS:
        product = catalog.create_product(
            db,
            factory_id=factory.id,
            name=name,
            sku=sku,
            price=price,
            grosir_unit_size=sum(mix.values()),
            variants=[VariantSpec(size, f"{sku}-{size}", units) for size, units in mix.items()],
        )
        catalog.create_session(db, product_id=product.id, target_moq=moq, ends_at=ends, code=code)
    return [code for code, *_ in DEMO_PRODUCTS]


@laku.command("demo")
@click.option("--days", default=3, show_default=True, help="How long the demo sessions stay open.")
def demo(days: int) -> None:
    """Load demo data (once; skipped when it is already there)."""
    with context.unit_of_work() as db:
        codes = load_demo(db, days)
    click.echo(f"Demo sessions created: {', '.join(codes)}" if codes else "Demo data already loaded.")


@laku.command("create-operator")
@click.argument("username")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="LAKU_OPERATOR_PASSWORD",
    help="Asked for when not given (or LAKU_OPERATOR_PASSWORD); at least 10 characters.",
)
@click.option("--reset", is_flag=True, help="Give an existing operator a new password (ends their sessions).")
def create_operator(username: str, password: str, reset: bool) -> None:
    """A dashboard account (/admin). The password is stored only as an Argon2id hash."""
    with _refusals_exit(), context.unit_of_work() as db:
        operator = operators.find_operator(db, username) if reset else None
        if reset and operator is None:
            raise click.ClickException(f"username: no operator {operators.normal_username(username)}")
        if operator is not None:
            operators.set_password(db, operator, password)
        else:
            operator = operators.create_operator(db, username=username, password=password)
    click.echo(f"operator {operator.username}: {'new password set' if reset else 'created'}")


@laku.command("demo-operator")
@click.option(
    "--login-file", type=click.Path(dir_okay=False), default=str(DEMO_LOGIN_FILE), show_default=True
)
def demo_operator(login_file: str) -> None:
    """The embedded default's dashboard login: creates `admin` with a random password the first time and
    keeps that login in LOGIN_FILE (readable by this user only) so `make run` can print it every time."""
    with context.unit_of_work() as db:
        operator = operators.find_operator(db, DEMO_OPERATOR)
        password = None
        if operator is None:
            password = secrets.token_urlsafe(12)
            operators.create_operator(db, username=DEMO_OPERATOR, password=password)
            descriptor = os.open(login_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(f"{DEMO_OPERATOR} / {password}\n")
        elif os.path.exists(login_file):
            stored = open(login_file).read().strip().partition(" / ")[2]
            if operators.password_matches(operator, stored):
                password = stored
            else:
                os.remove(login_file)  # the password was changed since: the file no longer tells the truth
    if password is None:
        click.echo(f"Dashboard: log in as {DEMO_OPERATOR} with the password you set.")
    else:
        click.echo(f"Dashboard login: {DEMO_OPERATOR} / {password}")


@laku.command("create-factory")
@click.option("--name", required=True)
@click.option("--phone", required=True, help="WhatsApp number, e.g. 0812... or +62812...")
@click.option("--address")
def create_factory(name: str, phone: str, address: str | None) -> None:
    """A factory: the WhatsApp number purchase orders go to."""
    region = context.settings().default_country
    with _refusals_exit(), context.unit_of_work() as db:
        factory = catalog.create_factory(db, name=name, phone=phone, address=address, region=region)
    click.echo(f"factory {factory.id}: {factory.name} {factory.phone}")


@laku.command("create-product")
@click.argument("spec", type=click.File("r"))
def create_product(spec) -> None:
    """Create a product from a JSON file shaped like the admin API's POST /products body."""
    try:
        data = ProductIn.model_validate(json.load(spec))
    except (ValueError, ValidationError) as error:
        raise click.ClickException(str(error)) from None
    with _refusals_exit(), context.unit_of_work() as db:
        product = data.create(db)
    click.echo(f"product {product.id}: {product.name} ({product.sku})")


@laku.command("create-session")
@click.option("--product-id", type=int, required=True)
@click.option("--moq", type=int, required=True, help="Target MOQ in units.")
@click.option("--hours", type=float, default=72, show_default=True)
@click.option("--code")
def create_session(product_id: int, moq: int, hours: float, code: str | None) -> None:
    """Open a session of a product, joinable from now for --hours."""
    ends = now() + timedelta(hours=hours)
    with _refusals_exit(), context.unit_of_work() as db:
        session = catalog.create_session(db, product_id=product_id, target_moq=moq, ends_at=ends, code=code)
    click.echo(f"session {session.code} open until {session.ends_at.isoformat()}")


@laku.command("set-stock")
@click.argument("sku")
@click.argument("on_hand", type=int)
def set_stock(sku: str, on_hand: int) -> None:
    """Set warehouse units on hand for one variant SKU."""
    with _refusals_exit(), context.unit_of_work() as db:
        row = catalog.set_inventory(db, variant_sku=sku, on_hand=on_hand)
    click.echo(f"{sku}: on hand {row.on_hand}, reserved {row.reserved}")


def _admin(operation, code: str):
    """Run one admin operation: the same core function the admin API calls, with the same errors."""
    with _refusals_exit():
        return operation(context.db_factory(), context.dispatch(), code, context.settings())


@laku.command("close")
@click.argument("code")
def close(code: str) -> None:
    """Process a session now (joining ends), as the expiry sweep would. With the warehouse unreachable the
    close is deferred, as from the admin API: joining ends and the sweep retries it."""
    outcome = _admin(closing.close_now, code)
    click.echo(f"session {outcome.session_code}: {outcome.result}")


@laku.command("cancel")
@click.argument("code")
def cancel(code: str) -> None:
    """Cancel a session; buyers are told nothing is owed."""
    session = _admin(closing.cancel, code)
    click.echo(f"session {session.code}: {session.status}")


@laku.command("receive-po")
@click.argument("code")
def receive_po(code: str) -> None:
    """The factory's goods arrived: into the warehouse, then one order per buyer."""
    outcome = _admin(purchase_orders.receive, code)
    click.echo(
        f"purchase order {outcome.purchase_order_code}: received, {outcome.orders} orders for {outcome.session_code}"
    )


def _reply_text(twiml: str) -> str:
    try:
        root = ElementTree.fromstring(twiml)
    except ElementTree.ParseError:
        return twiml
    messages = [m.findtext("Body") or (m.text or "") for m in root.iter("Message")]
    return "\n".join(messages) if messages else NO_REPLY


NO_REPLY = "(no text reply: a list or buttons went out as a WhatsApp message; the worker prints it)"
TAP = "tap "  # `tap IKUT KAOS1 M`: a tapped button or list item, its id as the payload


def send_chat_message(
    url: str,
    phone: str,
    name: str,
    text: str,
    auth_token: str | None,
    signed_base: str | None,
    payload: str | None = None,
):
    """Post one message to the webhook the way Twilio does (form fields, optional signature); `payload` is
    a tapped button's id (`ButtonPayload`)."""
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AClocalchat",
        "From": f"whatsapp:{phone}",
        "To": "whatsapp:+14155238886",
        "WaId": phone.lstrip("+"),
        "ProfileName": name,
        "Body": text,
        "NumMedia": "0",
    }
    if payload:
        form["ButtonPayload"] = payload
    endpoint = url.rstrip("/") + "/webhooks/twilio/whatsapp"
    headers = {}
    if auth_token:
        signed_url = (signed_base.rstrip("/") + "/webhooks/twilio/whatsapp") if signed_base else endpoint
        headers["X-Twilio-Signature"] = RequestValidator(auth_token).compute_signature(signed_url, form)
    response = requests.post(endpoint, data=form, headers=headers, timeout=20)
    return response.status_code, _reply_text(response.text)


@laku.command("chat")
@click.option("--phone", default="081234567890", show_default=True, help="Your pretend WhatsApp number.")
@click.option("--name", default="Sari", show_default=True, help="Your WhatsApp profile name.")
@click.option("--url", default="http://127.0.0.1:5000", show_default=True, help="The running bot.")
@click.option("--message", "-m", multiple=True, help="Send these messages and exit (no prompt).")
def chat(phone: str, name: str, url: str, message: tuple[str, ...]) -> None:
    """Chat with the running bot from this terminal, through its real webhook."""
    settings = context.settings()
    try:
        e164 = normalise(phone, settings.default_country)
    except InvalidPhone as error:
        raise click.ClickException(str(error)) from None

    def send(text: str) -> None:
        payload = text[len(TAP) :].strip() if text.lower().startswith(TAP) else None
        try:
            status, reply = send_chat_message(
                url,
                e164,
                name,
                payload or text,
                settings.twilio_auth_token,
                settings.public_base_url,
                payload,
            )
        except requests.RequestException as error:
            raise click.ClickException(
                f"the bot at {url} is not answering ({error}); is `make run` running?"
            ) from None
        reply = reply.replace("\n", "\n     ")  # continuation lines (a numbered list) under the first
        click.echo(f"[{status}] bot> {reply}\n" if status != 200 else f"bot> {reply}\n")

    if message:
        for text in message:
            click.echo(f"{e164}> {text}")
            send(text)
        return
    click.echo(
        f"Chatting as {name} ({e164}) with {url}. Type MENU to start, Ctrl-D to quit.\n"
        f"Answer a numbered list with its number; `{TAP}IKUT KAOS1 M` taps a button or list item."
    )
    while True:
        try:
            text = input(f"{e164}> ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if text.strip():
            send(text)


def register(app: Flask) -> None:
    app.cli.add_command(laku)
