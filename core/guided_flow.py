"""The guided join: a buyer who sends only part of a join is led through the session, the size and the
quantity, then asked for a yes. Nothing is joined before that yes.

Each step is offered as a WhatsApp interactive message (a list picker for sessions and sizes, quick-reply
buttons for quantities and yes/no) when a Content SID is set for it and messages really go out; it is then
sent through the outbox and the webhook's own reply stays empty, because interactive messages cannot go
in TwiML. Otherwise (no Content SID, the console transport) the same step goes in the reply as text with
numbered options, and "2" picks the second.

Every option's id is command text (`IKUT KAOS1`, `IKUT KAOS1 M`, `IKUT KAOS1 M 2`), so a tap carries all it
means: it continues the flow even after the stored step has lapsed, or from a message further up the chat.
A tap is an answer to the step it was offered in, never a join on its own: the yes still comes last.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core import notifications, session_rows, texts
from core.buyer_replies import describe_catch_up
from core.clock import format_wib
from core.conversation_state import CONFIRM, QUANTITY, SESSION, SIZE, Pending, Turn
from core.joining import Refusal
from core.models import Product
from core.session_view import SessionView, is_open, load_view
from core.understanding import Command, Line, word_for

QUANTITY_CHOICES = 3  # WhatsApp shows at most three quick-reply buttons


@dataclass(frozen=True)
class Option:
    answer: str  # what a numbered answer picks: a session code, a size, a quantity
    title: str  # the list item's or button's label
    payload: str  # its id: command text
    description: str = ""


# ------------------------------------------------------------------------------------------ the steps


def start(turn: Turn, command: Command) -> str:
    """A join that lacks its code or sizes: the first step it needs."""
    if command.code is None:
        return ask_session(turn, command)
    return carry_on(turn, open_view(turn, command.code), command)


def carry_on(turn: Turn, view: SessionView, command: Command) -> str:
    """The next step for what the buyer has told so far: a size, a quantity, or the yes."""
    turn.state.remember(view.session.code)
    lines = command.lines
    if not lines or any(line.size is None for line in lines):
        return ask_size(turn, view, command)
    if len(lines) == 1 and lines[0].quantity is None:
        return ask_quantity(turn, view, command)
    lines = tuple(Line(line.size, line.quantity or 1) for line in lines)
    return ask_join_yes(turn, view, replace(command, lines=lines))


def ask_session(turn: Turn, command: Command) -> str:
    language = turn.language
    sessions = session_rows.open_sessions(turn.db, turn.at, limit=10)
    if not sessions:
        turn.state.clear()
        return texts.render(language, "list_none")
    word = word_for("join", language)
    options = []
    for session in sessions:
        product = turn.db.get(Product, session.product_id)
        description = texts.render(
            language,
            "choose_session_item",
            product=product.name if product else "?",
            price=texts.rupiah(session.price),
            ends=format_wib(session.ends_at, language),
        )
        options.append(Option(session.code, session.code, f"{word} {session.code}", description))
    turn.state.wait_for(Pending(SESSION, command, tuple(o.answer for o in options)))
    prompt = texts.render(language, "choose_session")
    footer = texts.render(language, "choose_session_reply", count=len(options))
    return present(turn, notifications.CHOOSE_SESSION, prompt, options, footer)


def ask_size(turn: Turn, view: SessionView, command: Command, note: str = "") -> str:
    language, session = turn.language, view.session
    word = word_for("join", language)
    options = [
        Option(size, size, f"{word} {session.code} {size}", size_state(language, view, size))
        for size in view.sizes
    ]
    # a quantity said before the size ("ikut 2") is kept for when the size is chosen
    said = [line for line in command.lines if line.size is None and line.quantity]
    kept = replace(command, code=session.code, lines=tuple(said[:1]))
    turn.state.wait_for(Pending(SIZE, kept, tuple(view.sizes)))
    prompt = note + texts.render(
        language,
        "choose_size",
        code=session.code,
        product=view.product.name,
        price=texts.rupiah(session.price),
    )
    example = next((s for s in view.sizes if not view.states[s].locked), view.sizes[0] if view.sizes else "M")
    footer = texts.render(language, "choose_size_reply", count=len(options), example=example)
    return present(turn, notifications.CHOOSE_SIZE, prompt, options, footer)


def ask_quantity(turn: Turn, view: SessionView, command: Command) -> str:
    language, session = turn.language, view.session
    size = command.lines[0].size
    assert size is not None
    state = view.states[size]
    most = QUANTITY_CHOICES
    if state.cap is not None and not state.locked:
        most = max(1, min(most, state.available or 1))
    word = word_for("join", language)
    options = [
        Option(
            str(n),
            texts.render(language, "choose_quantity_button", quantity=n),
            f"{word} {session.code} {size} {n}",
        )
        for n in range(1, most + 1)
    ]
    turn.state.wait_for(
        Pending(QUANTITY, replace(command, code=session.code), tuple(o.answer for o in options))
    )
    prompt = texts.render(
        language, "choose_quantity", code=session.code, size=size, note=size_state(language, view, size)
    )
    footer = texts.render(language, "choose_quantity_reply")
    return present(turn, notifications.CHOOSE_QUANTITY, prompt, options, footer, numbered=False)


def ask_join_yes(turn: Turn, view: SessionView, command: Command) -> str:
    language, session = turn.language, view.session
    described = ", ".join(
        texts.render(language, "confirm_line", quantity=line.quantity, size=line.size)
        for line in command.lines
    )
    units = sum(line.quantity or 0 for line in command.lines)
    prompt = texts.render(
        language,
        "confirm_join",
        code=session.code,
        lines=described,
        total=texts.rupiah(units * session.price),
    )
    return ask_yes(turn, replace(command, code=session.code), prompt, "confirm_join_reply")


def ask_yes(turn: Turn, command: Command, prompt: str, footer: str) -> str:
    """Wait for a yes that runs `command` (a guided join, a guess, a leave from context); `footer` is the
    text key that says how to answer, in the text reply (the buttons say it otherwise)."""
    language = turn.language
    turn.state.wait_for(Pending(CONFIRM, command))
    yes, no = texts.render(language, "answer_yes"), texts.render(language, "answer_no")
    options = [Option(yes, yes, yes), Option(no, no, no)]
    footer = texts.render(language, footer)
    return present(turn, notifications.CONFIRM, prompt, options, footer, numbered=False)


def size_state(language: str, view: SessionView, size: str) -> str:
    """How a size stands, in a few words: what is left, or what it waits for."""
    state = view.states[size]
    if state.cap is None:
        return texts.render(language, "choose_size_uncapped")
    if not state.locked:
        return texts.render(language, "choose_size_free", available=state.available)
    needs = view.catch_up(size, 1)
    if needs is None:
        return texts.render(language, "choose_size_full")
    waitlist = view.product.waitlist_enabled and bool(view.allocations)
    key = "choose_size_locked" if waitlist else "choose_size_closed"
    return texts.render(language, key, catch_up=describe_catch_up(language, needs))


# ------------------------------------------------------------------------------------------ the answers


def answer(turn: Turn, pending: Pending) -> str:
    """A typed answer ("M", "2", "M 2, L 1", "no 3") or a yes at a step that is not the last."""
    command, step = turn.command, pending.step
    number = command.number
    if step == SESSION:
        code = _pick(pending.options, number) or (command.code if command.code in pending.options else None)
        if code is None:
            return ask_session(turn, pending.command)
        return carry_on(turn, open_view(turn, code), replace(pending.command, code=code))
    assert pending.command.code is not None
    view = open_view(turn, pending.command.code)
    building = pending.command
    if step == SIZE:
        picked = _pick(pending.options, number)
        if picked is not None:
            said = building.lines[0].quantity if building.lines else None
            return carry_on(turn, view, replace(building, lines=(Line(picked, said),)))
    if step == QUANTITY and number is not None:
        return carry_on(turn, view, replace(building, lines=(Line(building.lines[0].size, number),)))
    lines = command.lines
    if not lines:
        return _ask_again(turn, view, pending)
    sizes = [line.size for line in lines if line.size is not None]
    unknown = [size for size in sizes if size not in view.states]
    if unknown:
        note = texts.render(turn.language, "choose_size_unknown", size=unknown[0], code=view.session.code)
        return ask_size(turn, view, building, note)
    if not sizes:  # a quantity alone
        quantity = lines[0].quantity
        if step == QUANTITY or (step == CONFIRM and len(building.lines) == 1):
            return carry_on(turn, view, replace(building, lines=(Line(building.lines[0].size, quantity),)))
        if step == SIZE:
            return ask_size(turn, view, replace(building, lines=(Line(None, quantity),)))
        return _ask_again(turn, view, pending)
    if step == SIZE and len(lines) == 1 and lines[0].quantity is None and building.lines:
        lines = (Line(lines[0].size, building.lines[0].quantity),)  # "ikut 2", then "M"
    return carry_on(turn, view, replace(building, lines=tuple(lines)))


def tapped(turn: Turn, command: Command) -> str:
    """A tapped list item or button of the flow (`IKUT KAOS1`, `IKUT KAOS1 M`, `IKUT KAOS1 M 2`): the step
    after it, whether or not its step is still stored."""
    pending = turn.state.pending
    building = (
        pending.command if pending is not None and pending.command.code in (None, command.code) else None
    )
    base = replace(command, referral=command.referral or (building.referral if building else None))
    view = open_view(turn, command.code or "")
    if not command.lines:  # a session picked from the list
        lines = building.lines if building is not None and pending and pending.step == SESSION else ()
        return carry_on(turn, view, replace(base, lines=lines))
    line = command.lines[0]
    if _names_quantity(turn.tap or ""):
        return carry_on(turn, view, replace(base, lines=(line,)))
    said = None
    if building is not None and building.lines and building.lines[0].size is None:
        said = building.lines[0].quantity  # "ikut 2", then a size tapped
    return carry_on(turn, view, replace(base, lines=(Line(line.size, said),)))


def is_flow_tap(turn: Turn) -> bool:
    """A tap on one of the flow's own options: a join with at most one size."""
    command = turn.command
    return bool(turn.tap) and command.name == "join" and command.code is not None and len(command.lines) <= 1


def open_view(turn: Turn, code: str) -> SessionView:
    """The session a step is about, if it still takes joins (else the refusal a join would get)."""
    session = session_rows.find_session(turn.db, code)
    if session is None:
        raise Refusal("unknown_session", code=session_rows.normal_code(code))
    if not is_open(session, turn.at):
        raise Refusal("session_closed", code=session.code)
    return load_view(turn.db, session)


def _ask_again(turn: Turn, view: SessionView, pending: Pending) -> str:
    if pending.step == SIZE:
        return ask_size(turn, view, pending.command)
    if pending.step == QUANTITY:
        return ask_quantity(turn, view, pending.command)
    return ask_join_yes(turn, view, pending.command)


def _pick(options: tuple[str, ...], number: int | None) -> str | None:
    return options[number - 1] if number is not None and 1 <= number <= len(options) else None


def _names_quantity(payload: str) -> bool:
    """`IKUT KAOS1 M 2` (a quantity button) rather than `IKUT KAOS1 M` (a size from the list)."""
    return len(payload.split()) >= 4


# ------------------------------------------------------------------------------------- how it is sent


def present(
    turn: Turn,
    notice: notifications.Notice,
    prompt: str,
    options: list[Option],
    footer: str,
    *,
    numbered: bool = True,
) -> str:
    """The step as an interactive message through the outbox (the reply is then empty), or as text: the
    prompt, its options numbered, and the footer saying how to answer in words (not in the list or buttons:
    they say it themselves)."""
    lines = [prompt]
    if numbered:
        lines += [
            f"{i}. {option.title}" + (f": {option.description}" if option.description else "")
            for i, option in enumerate(options, 1)
        ]
    if footer:
        lines.append(footer)
    text = "\n".join(lines)
    settings, language = turn.settings, turn.language
    if settings.console_transport or not notifications.template_for(settings, notice, language, len(options)):
        return text
    fields: dict[str, object] = {"prompt": prompt, "button": texts.render(language, "choose_button")}
    for name in notice.variables:
        fields.setdefault(name, None)
    long_list = "description1" in notice.variables
    for i, option in enumerate(options, 1):
        fields[f"item{i}"] = option.title[: 24 if long_list else 20]
        fields[f"id{i}"] = option.payload[:200]
        if long_list:
            fields[f"description{i}"] = option.description[:72]
    notifications.notify(
        turn.db,
        settings,
        notice,
        key=f"reply:{turn.message_sid}",
        to_phone=turn.buyer.phone,
        language=language,
        session_id=None,
        purchase_order_id=None,
        options=len(options),
        body=text,
        **fields,
    )
    return ""
