"""What a buyer's command does and the reply it gets: MENU, SESI, INFO, IKUT/ANTRE, BATAL, STATUS, ALAMAT.

Each handler returns the reply text. `core.dialogue` runs it in a savepoint, except the joins, which
refuse before they write; a `Refusal` from the join service is rendered by `render_refusal`.
"""

from __future__ import annotations

from core import buyer_preferences, buyers, joining, payment_summary, session_rows, sharing, texts
from core.allocation import CatchUp, max_request
from core.clock import format_wib, now
from core.joining import Refusal
from core.models import ParticipantStatus, Product
from core.session_view import SessionView, is_open, load_view


def render_refusal(language: str, refusal: Refusal) -> str:
    fields = dict(refusal.fields)
    if "catch_up" in fields:
        fields["catch_up"] = describe_catch_up(language, fields["catch_up"])
    text = texts.render(language, refusal.key, **fields)
    if refusal.key == "too_many" and fields.get("waitlist"):
        text += texts.render(language, "too_many_wait", **fields)
        text += texts.render(
            language, "too_many_split", rest=fields["quantity"] - fields["available"], **fields
        )
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


EXAMPLE_CODE = "GB1234"
"""The session code in examples when the conversation knows no real one."""


def _menu(db, buyer, command, language, settings):
    """The command list, its join example on the open session that ends soonest (a code the buyer can
    actually use) when there is one."""
    name = f" {buyer.name}" if buyer.name else ""
    soonest = session_rows.open_sessions(db, limit=1)
    example = soonest[0].code if soonest else EXAMPLE_CODE
    return texts.render(language, "menu", name=name, example=example)


def _list(db, buyer, command, language, settings):
    sessions = session_rows.open_sessions(db)
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
                ends=format_wib(session.ends_at, language),
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
            ends=format_wib(session.ends_at, language),
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
    if is_open(session, now()):
        lines.append(texts.render(language, "info_footer", code=session.code))
    return "\n".join(lines)


def _info(db, buyer, command, language, settings):
    session = session_rows.find_session(db, command.code)
    if session is None:
        raise Refusal("unknown_session", code=session_rows.normal_code(command.code))
    text = describe_session(language, load_view(db, session))
    if not is_open(session, now()):
        return text
    return sharing.with_share_line(text, db, buyer, session.code, language, settings)


def _join(db, buyer, command, language, settings):
    """The join (`_join_reply`), then what sharing adds: the sharer's credit for a join carrying a referral
    tag, and the buyer's own share prompt under the reply (`core.sharing.after_join`). A join without a
    referral tag reads nothing more for it."""
    before = sharing.join_mark(db, buyer, command.code) if command.referral else 0
    reply = _join_reply(db, buyer, command, language, settings)
    return sharing.after_join(db, buyer, command.code, command.referral, before, reply, language, settings)


def _join_reply(db, buyer, command, language, settings):
    """One size: the reply as it always was. Several (`IKUT KAOS1 M 2, L 1`): one join under one lock, and
    a line per size saying what was confirmed, what waits and what was refused."""
    wait = command.name == "wait"
    if len(command.lines) > 1:
        lines = [(line.size, line.quantity) for line in command.lines]
        outcomes = joining.join_lines(
            db, session_code=command.code, buyer=buyer, lines=lines, wait=wait, settings=settings
        )
        return _several_sizes(db, language, command.code, lines, outcomes)
    result = joining.join(
        db,
        session_code=command.code,
        buyer=buyer,
        size=command.size,
        quantity=command.quantity,
        wait=wait,
        settings=settings,
    )
    session, product = result.view.session, result.view.product
    participant = result.participant
    size = product.variant(participant.variant_id).size
    if result.status == "waiting":
        ends = format_wib(session.ends_at, language)
        return _waiting_reply(language, result.view, size, participant.quantity, result.position, ends)
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
        moq_note=_moq_note(language, result),
    )


def _waiting_reply(language: str, view: SessionView, size: str, quantity: int, position, ends: str) -> str:
    """A request put in line: its place, what would let it in, nothing owed, settled by the deadline."""
    code = view.session.code
    needs = view.catch_up(size, quantity)
    if needs is None:  # no join can make room while the session runs: only settlement at close
        maximum = max_request(size, view.allocations, view.product.lead_lots)
        reason = texts.render(
            language,
            "settlement_only_over_max" if quantity > maximum else "settlement_only_full",
            size=size,
            maximum=maximum,
        )
        return texts.render(
            language,
            "waiting_for_settlement",
            size=size,
            code=code,
            quantity=quantity,
            position=position,
            reason=reason,
            ends=ends,
        )
    state = view.states[size]
    return texts.render(
        language,
        "waiting" if state.locked else "waiting_by_choice",
        size=size,
        available=state.available,
        code=code,
        quantity=quantity,
        position=position,
        catch_up=describe_catch_up(language, needs),
        ends=ends,
    )


def _moq_note(language: str, result: joining.JoinResult) -> str:
    session = result.view.session
    ends = format_wib(session.ends_at, language)
    if result.moq_just_reached:
        return texts.render(language, "joined_moq_now", ends=ends)
    if session.ordered_units >= session.target_moq:
        return texts.render(language, "joined_moq_already", ends=ends)
    return ""


def _several_sizes(db, language, code, lines, outcomes) -> str:
    results = [outcome for outcome in outcomes if isinstance(outcome, joining.JoinResult)]
    if results:
        view = results[0].view
    else:  # every size refused: the session as it stands
        found = session_rows.find_session(db, code)
        assert found is not None  # join_lines refuses an unknown session as a whole
        view = load_view(db, found)
    session = view.session
    parts = [texts.render(language, "joined_lines_header", code=session.code, product=view.product.name)]
    for (size, quantity), outcome in zip(lines, outcomes, strict=True):
        if isinstance(outcome, Refusal):
            reason = render_refusal(language, outcome).replace("\n", " ")
            parts.append(texts.render(language, "refused_line", size=size, quantity=quantity, reason=reason))
        elif outcome.status == "waiting":
            size = view.product.variant(outcome.participant.variant_id).size
            needs = view.catch_up(size, outcome.participant.quantity)
            parts.append(
                texts.render(
                    language,
                    "waiting_line" if needs is not None else "waiting_line_at_close",  # settled at close
                    size=size,
                    quantity=quantity,
                    position=outcome.position,
                    catch_up=describe_catch_up(language, needs),
                )
            )
        else:
            total = texts.rupiah(outcome.participant.total)
            parts.append(texts.render(language, "joined_line", size=size, quantity=quantity, total=total))
    if any(r.status == "waiting" for r in results):
        ends = format_wib(session.ends_at, language)
        parts.append(texts.render(language, "waiting_lines_settled_by", ends=ends))
    joined = [r for r in results if r.status == "joined"]
    if joined:
        parts.append(
            texts.render(
                language,
                "joined_lines_footer",
                total=texts.rupiah(sum(r.participant.total for r in joined)),
                units=session.ordered_units,
                moq=session.target_moq,
                moq_note=_moq_note(language, joined[0]),
                code=session.code,
            )
        )
    return "\n".join(parts)


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
    participations = session_rows.buyer_participations(db, buyer)
    if not participations:
        extra = buyer_preferences.status_lines(db, buyer, language, joined=False)
        return "\n".join([texts.render(language, "status_none"), *extra])
    lines = [texts.render(language, "status_header")]
    orders = payment_summary.payments_by_participant(db, (p.id for p in participations))
    for participant in participations:
        session = participant.session
        if participant.id in orders:
            order_code, payment = orders[participant.id]
            state = texts.render(language, "state_ordered", order=order_code)
            state += payment_summary.describe(language, payment)
        elif participant.status == ParticipantStatus.WAITING:
            state = texts.render(
                language, "state_waiting", position=session_rows.waiting_position(db, participant)
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
    lines += buyer_preferences.status_lines(db, buyer, language, joined=True)
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
    "stop": buyer_preferences.set_reminders,
    "start": buyer_preferences.set_reminders,
}
