"""One inbound WhatsApp message -> stored once -> one command -> one reply text.

The inbound row, the command's writes and the reply are one transaction, so a message is either fully
handled with its reply stored, or not at all. A redelivered `MessageSid` gets the stored reply back and
changes nothing. A refused command is rolled back to a savepoint: only the inbound row remains.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import buyers, joining, texts
from core.allocation import CatchUp
from core.clock import format_wib, now
from core.commands import FACTORY_COMMANDS, Command, parse
from core.factory_replies import handle_factory_command
from core.joining import Refusal, SessionView
from core.models import Buyer, Factory, InboundMessage, Order, ParticipantStatus, Product, Variant
from core.phones import InvalidPhone, normalise
from core.settings import Settings

MAX_REPLY = 1600  # Twilio's limit for one WhatsApp message


@dataclass(frozen=True)
class Inbound:
    message_sid: str
    from_address: str
    body: str = ""
    profile_name: str | None = None
    button_payload: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    duplicate: bool = False


def stored_reply(db: Session, message_sid: str) -> Reply | None:
    reply = db.scalar(select(InboundMessage.reply).where(InboundMessage.message_sid == message_sid))
    return None if reply is None else Reply(reply, duplicate=True)


def handle(db: Session, inbound: Inbound, settings: Settings) -> Reply:
    """Handle one message inside the caller's transaction."""
    previous = stored_reply(db, inbound.message_sid)
    if previous is not None:
        return previous
    command = parse(inbound.body, inbound.button_payload)
    record = InboundMessage(
        message_sid=inbound.message_sid,
        command=command.name,
        from_phone=inbound.from_address[:64],
        profile_name=(inbound.profile_name or "")[:200] or None,
        body=(inbound.body or "")[:4096],
        button_payload=(inbound.button_payload or "")[:256] or None,
        received_at=now(),
    )
    db.add(record)
    db.flush()  # a concurrent duplicate blocks here on the unique MessageSid until we commit

    try:
        phone = normalise(inbound.from_address, settings.default_country)
    except InvalidPhone:
        record.reply = _fit(texts.render(command.language or "id", "invalid_phone"))
        return Reply(record.reply)

    factory = db.scalar(select(Factory).where(Factory.phone == phone))
    if command.name in FACTORY_COMMANDS:
        text = _factory_command(db, factory, command, settings)
    else:
        buyer = _buyer(db, phone, inbound.profile_name, command)
        text = _buyer_command(db, buyer, command, settings)
    record.reply = _fit(text)
    return Reply(record.reply)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"


def _buyer(db: Session, phone: str, profile_name: str | None, command: Command) -> Buyer:
    buyer = db.scalar(select(Buyer).where(Buyer.phone == phone))
    if buyer is None:
        buyer = Buyer(
            phone=phone, name=(profile_name or "").strip()[:200] or None, language=command.language or "id"
        )
        db.add(buyer)
    elif command.language:
        buyer.language = command.language
    if profile_name and not buyer.name:
        buyer.name = profile_name.strip()[:200]
    buyer.last_inbound_at = now()
    db.flush()
    return buyer


def _factory_command(db: Session, factory: Factory | None, command: Command, settings: Settings) -> str:
    language = command.language or "id"
    if factory is None:
        return texts.render(language, "factory_only", word=command.word)
    if command.error:
        return texts.render(language, command.error, word=command.word, code=command.code or "")
    return handle_factory_command(
        db, factory, command.name, command.code or "", command.text, settings, language=language
    )


def _buyer_command(db: Session, buyer: Buyer, command: Command, settings: Settings) -> str:
    language = command.language or buyer.language
    if command.error:
        return texts.render(
            language,
            command.error,
            word=command.word,
            code=command.code or "GB1234",
            size=command.size or "M",
            maximum=joining.MAX_QUANTITY,
        )
    handler = HANDLERS.get(command.name)
    if handler is None:
        key = "empty" if command.name == "empty" else "unknown"
        return texts.render(language, key, word=command.word)
    savepoint = db.begin_nested()
    try:
        text = handler(db, buyer, command, language, settings)
    except Refusal as refusal:
        savepoint.rollback()
        return render_refusal(language, refusal)
    savepoint.commit()
    return text


def render_refusal(language: str, refusal: Refusal) -> str:
    fields = dict(refusal.fields)
    if "catch_up" in fields:
        fields["catch_up"] = describe_catch_up(language, fields["catch_up"])
    text = texts.render(language, refusal.key, **fields)
    if refusal.key == "too_many" and fields.get("waitlist"):
        text += texts.render(language, "too_many_wait", **fields)
    if refusal.key == "over_max_request":
        text += texts.render(
            language, "over_max_take" if fields["available"] else "over_max_locked", **fields
        )
    return text


def describe_catch_up(language: str, needs: list[CatchUp] | None) -> str:
    if not needs:
        return "?"
    parts = [texts.render(language, "catch_up_item", size=n.size, units=n.units) for n in needs]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + texts.render(language, "catch_up_and") + parts[-1]


def _menu(db, buyer, command, language, settings):
    name = f" {buyer.name}" if buyer.name else ""
    return texts.render(language, "menu", name=name)


def _list(db, buyer, command, language, settings):
    sessions = joining.open_sessions(db)
    if not sessions:
        return texts.render(language, "list_none")
    lines = [texts.render(language, "list_header")]
    for session in sessions:
        product = db.get(Product, session.product_id)
        lines.append(
            texts.render(
                language,
                "list_item",
                code=session.code,
                product=product.name if product else "?",
                price=texts.rupiah(session.price),
                units=session.ordered_units,
                moq=session.target_moq,
                ends=format_wib(session.ends_at),
            )
        )
    lines.append(texts.render(language, "list_footer"))
    return "\n".join(lines)


def describe_session(language: str, view: SessionView) -> str:
    session, product = view.session, view.product
    reached = session.ordered_units >= session.target_moq
    lines = [
        texts.render(
            language,
            "info_header",
            code=session.code,
            product=product.name,
            price=texts.rupiah(session.price),
            ends=format_wib(session.ends_at),
            units=session.ordered_units,
            moq=session.target_moq,
            moq_note=texts.render(language, "info_moq_reached") if reached else "",
            status=texts.render(language, f"session_status_{session.status}"),
        )
    ]
    if view.allocations:
        mix = " + ".join(f"{units} {size}" for size, units in view.allocations.items())
        lines.append(texts.render(language, "info_lot", mix=mix, unit_size=product.grosir_unit_size))
    lines.append(texts.render(language, "info_sizes_header"))
    for size in view.sizes:
        state = view.states[size]
        waiting_units = view.waiting.get(size, 0)
        waiting = texts.render(language, "info_waiting", units=waiting_units) if waiting_units else ""
        fields = {"size": size, "ordered": state.ordered, "cap": state.cap, "available": state.available}
        if state.cap is None:
            key = "info_size_uncapped"
        elif state.locked:
            needs = view.catch_up(size, 1)
            key = "info_size_full" if needs is None else "info_size_locked"
            fields["catch_up"] = describe_catch_up(language, needs)
        else:
            key = "info_size"
        lines.append(texts.render(language, key, waiting=waiting, **fields))
    if joining.is_open(session, now()):
        lines.append(texts.render(language, "info_footer", code=session.code))
    return "\n".join(lines)


def _info(db, buyer, command, language, settings):
    session = joining.find_session(db, command.code)
    return describe_session(language, joining.load_view(db, session))


def _join(db, buyer, command, language, settings):
    result = joining.join(
        db,
        session_code=command.code,
        buyer=buyer,
        size=command.size,
        quantity=command.quantity,
        wait=command.name == "wait",
        settings=settings,
    )
    session, product = result.view.session, result.view.product
    participant = result.participant
    size = db.get(Variant, participant.variant_id).size
    if result.status == "waiting":
        state = result.view.states[size]
        return texts.render(
            language,
            "waiting" if state.locked else "waiting_by_choice",
            size=size,
            available=state.available,
            code=session.code,
            quantity=participant.quantity,
            position=result.position,
            catch_up=describe_catch_up(language, result.view.catch_up(size, participant.quantity)),
        )
    ends = format_wib(session.ends_at)
    if result.moq_just_reached:
        moq_note = texts.render(language, "joined_moq_now", ends=ends)
    elif session.ordered_units >= session.target_moq:
        moq_note = texts.render(language, "joined_moq_already", ends=ends)
    else:
        moq_note = ""
    return texts.render(
        language,
        "joined",
        quantity=participant.quantity,
        product=product.name,
        size=size,
        code=session.code,
        total=texts.rupiah(participant.total),
        units=session.ordered_units,
        moq=session.target_moq,
        moq_note=moq_note,
    )


def _leave(db, buyer, command, language, settings):
    result = joining.leave(db, session_code=command.code, buyer=buyer, settings=settings)
    withdrawn_note = (
        texts.render(language, "left_withdrawn", units=result.withdrawn_units)
        if result.withdrawn_units
        else ""
    )
    return texts.render(
        language,
        "left",
        code=result.view.session.code,
        released=result.released_units,
        withdrawn_note=withdrawn_note,
    )


def _status(db, buyer, command, language, settings):
    participations = joining.buyer_participations(db, buyer)
    if not participations:
        return texts.render(language, "status_none")
    lines = [texts.render(language, "status_header")]
    for participant in participations:
        session = participant.session
        order_code = db.scalar(select(Order.code).where(Order.participant_id == participant.id))
        if order_code:
            state = texts.render(language, "state_ordered", order=order_code)
        elif participant.status == ParticipantStatus.WAITING:
            state = texts.render(
                language, "state_waiting", position=joining.waiting_position(db, participant)
            )
        else:
            state = texts.render(language, f"state_{participant.status}")
        lines.append(
            texts.render(
                language,
                "status_line",
                code=session.code,
                product=db.get(Product, session.product_id).name,
                size=participant.variant.size,
                quantity=participant.quantity,
                total=texts.rupiah(participant.total),
                state=state,
                session_status=texts.render(language, f"session_status_{session.status}"),
            )
        )
    return "\n".join(lines)


def _address(db, buyer, command, language, settings):
    completed = buyers.set_address(db, buyer, command.text)
    text = texts.render(language, "address_saved", address=command.text)
    if completed:
        text += texts.render(language, "address_orders_completed", orders=completed)
    return text


HANDLERS = {
    "menu": _menu,
    "list": _list,
    "info": _info,
    "join": _join,
    "wait": _join,
    "leave": _leave,
    "status": _status,
    "address": _address,
}
