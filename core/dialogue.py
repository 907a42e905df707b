"""One buyer message, read in the conversation so far: what it does, and the reply.

- A full command does what it says, and ends whatever the bot was waiting for.
- A session command without a code takes the context: the session the buyer asked about or acted on last,
  else the only open one; the reply says which (`context_code`). A leave on a code from context asks first.
- A join without its sizes (or its code, with no context) starts the guided flow (`core.guided_flow`); a
  tap on one of the flow's options continues it.
- A yes, a no or an answer ("M", "2", "M 2") answers what the bot waits for. With nothing waited for, a
  yes or no gets `nothing_pending`, a lapsed step `flow_expired`, and an answer is only a guess: asked first.
- A guess of the parser (`ask`: a typo in a command or a code, a join without its word) never acts: the
  bot asks "Maksud Anda ...? Balas YA" and waits for the yes.
- Chit-chat and questions change nothing; they get a short help reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from core import buyer_replies, guided_flow, session_rows, texts
from core.buyer_replies import EXAMPLE_CODE
from core.clock import now
from core.conversation_state import CONFIRM, Pending, Turn
from core.joining import MAX_QUANTITY, Refusal
from core.models import Buyer
from core.session_view import is_open
from core.understanding import THANKS, Command, Guess, Line, word_for
from core.unit_of_work import savepoint

SESSION_COMMANDS = ("info", "join", "wait", "leave")


def respond(turn: Turn) -> str:
    command = turn.command
    if command.error:
        return usage_error(turn, command)
    if command.name in ("yes", "no", "answer"):
        return _answer(turn)
    if command.name in ("unknown", "empty"):
        return texts.render(turn.language, _help_for(command))
    if guided_flow.is_flow_tap(turn):
        return _guided(turn, lambda: guided_flow.tapped(turn, command))
    turn.state.clear()  # a full command ends what was waited for
    if command.name == "ask":
        assert command.proposal is not None
        return _propose(turn, command.proposal, command.guesses)
    return act(turn, command)


def _help_for(command: Command) -> str:
    """Chit-chat changes nothing; it gets a short reply that says what the bot can do."""
    if command.name == "empty":
        return "empty"
    return "you_are_welcome" if command.word in THANKS else "not_understood"


def act(turn: Turn, command: Command, *, confirmed: bool = False) -> str:
    """Do what a command says, its code taken from context when left out."""
    from_context = False
    if command.name in SESSION_COMMANDS and command.code is None:
        code = context_code(turn)
        if code is None:
            if command.name == "join":
                return _guided(turn, lambda: guided_flow.start(turn, command))
            if command.name == "info":
                return run(turn, replace(command, name="list"))
            return usage_error(turn, replace(command, error="missing_code"))
        command, from_context = replace(command, code=code), True
    if command.name == "leave" and from_context and not confirmed:
        turn.state.remember(command.code)
        prompt = texts.render(turn.language, "confirm_leave", code=command.code)
        return guided_flow.ask_yes(turn, command, prompt, "confirm_leave_reply")
    if command.name == "join" and (not command.lines or any(line.size is None for line in command.lines)):
        return _guided(turn, lambda: guided_flow.start(turn, command))  # each step names the session
    text = run(turn, command)
    if from_context and command.name != "info":  # INFO's own first line names the session
        text = texts.render(turn.language, "context_code", code=command.code) + text
    return text


WRITE_NOTHING_BEFORE_REFUSING = frozenset({"join", "wait"})
"""Commands whose handler refuses before it writes anything (`core.joining`): they need no savepoint."""


def run(turn: Turn, command: Command) -> str:
    """The command's handler in a savepoint: a refusal rolls back what it wrote and is explained. A join
    refuses before it writes, so it runs without one (a savepoint is two statements more per join)."""
    handler = buyer_replies.HANDLERS[command.name]
    try:
        if command.name in WRITE_NOTHING_BEFORE_REFUSING:
            text = handler(turn.db, turn.buyer, command, turn.language, turn.settings)
        else:
            with savepoint(turn.db):
                text = handler(turn.db, turn.buyer, command, turn.language, turn.settings)
    except Refusal as refusal:
        if refusal.key != "unknown_session":
            turn.state.remember(command.code)
        return buyer_replies.render_refusal(turn.language, refusal)
    turn.state.remember(command.code)
    return text


def context_code(turn: Turn) -> str | None:
    """The session a message without a code is about: the one asked about or acted on last, if it is still
    open, else the only open session (from the open sessions' vocabulary)."""
    open_now = turn.vocabulary.sizes_by_code
    if turn.state.context in open_now:
        return turn.state.context
    return next(iter(open_now)) if len(open_now) == 1 else None


# ------------------------------------------------------------------------------------ answers and guesses


def _answer(turn: Turn) -> str:
    command, state, language = turn.command, turn.state, turn.language
    pending = state.pending
    if pending is None:
        if state.expired:
            state.clear()
            return texts.render(language, "flow_expired", minutes=turn.settings.conversation_flow_minutes)
        if command.name == "answer":
            return _answer_without_question(turn)
        return texts.render(language, "nothing_pending")
    if command.name == "no":
        state.clear()
        return texts.render(language, "proposal_dropped")
    if pending.step != CONFIRM:
        return _guided(turn, lambda: guided_flow.answer(turn, pending))
    if command.name == "yes":
        state.clear()
        return act(turn, pending.command, confirmed=True)
    if pending.command.name == "join":  # "M 3" at the last step: the join changes, asked again
        return _guided(turn, lambda: guided_flow.answer(turn, pending))
    return _ask_again(turn, pending)


def _answer_without_question(turn: Turn) -> str:
    """Sizes with nothing asked ("M 2"): a join of the session in context, if there is one, asked first."""
    lines = turn.command.lines
    code = context_code(turn)
    if code is None or not lines or any(line.size is None for line in lines):
        return texts.render(turn.language, "not_understood")
    join = Command(
        "join",
        turn.command.language,
        word_for("join", turn.language),
        code=code,
        lines=tuple(Line(line.size, line.quantity or 1) for line in lines),
    )
    return _propose(turn, join, (*turn.command.guesses, Guess("intent", code, "join")))


def _propose(turn: Turn, proposal: Command, guesses: tuple[Guess, ...]) -> str:
    """Ask before acting on a guess: "Maksud Anda: IKUT KAOS1 M 2? Balas YA"."""
    if proposal.code is None and proposal.name in SESSION_COMMANDS:
        code = context_code(turn)
        if code is None:  # a guess of nothing in particular ("kalo beli banyak ada diskon?")
            return texts.render(turn.language, "not_understood")
        proposal = replace(proposal, code=code)
    turn.state.remember(proposal.code)
    language = turn.language
    said = "".join(
        texts.render(language, _guess_key(guess), typed=guess.typed, meant=guess.meant) for guess in guesses
    )
    prompt = texts.render(language, "did_you_mean", proposal=command_text(proposal, language), guesses=said)
    return guided_flow.ask_yes(turn, proposal, prompt, "did_you_mean_reply")


def _guess_key(guess: Guess) -> str:
    if guess.what == "intent" and guess.typed == "question":
        return "guess_question"  # "bisa ikut KAOS1 M 2?"
    return f"guess_{guess.what}"


def _ask_again(turn: Turn, pending: Pending) -> str:
    """Something other than yes or no while a yes is awaited: the same question again."""
    command, language = pending.command, turn.language
    if command.name == "leave":
        prompt = texts.render(language, "confirm_leave", code=command.code)
        return guided_flow.ask_yes(turn, command, prompt, "confirm_leave_reply")
    prompt = texts.render(language, "did_you_mean", proposal=command_text(command, language), guesses="")
    return guided_flow.ask_yes(turn, command, prompt, "did_you_mean_reply")


def _guided(turn: Turn, step: Callable[[], str]) -> str:
    """A step of the guided flow; a session that no longer takes joins ends the flow with the reason."""
    try:
        return step()
    except Refusal as refusal:
        turn.state.clear()
        return buyer_replies.render_refusal(turn.language, refusal)


def command_text(command: Command, language: str) -> str:
    """A command as the buyer could type it: `IKUT KAOS1 M 2, L 1`, `BATAL KAOS1`."""
    text = f"{word_for(command.name, language)} {command.code or ''}".strip()
    lines = ", ".join(f"{line.size} {line.quantity}" for line in command.lines if line.size and line.quantity)
    return f"{text} {lines}" if lines else text


# ------------------------------------------------------------------------------------------ usage errors


def usage_error(turn: Turn, command: Command) -> str:
    assert command.error is not None
    example = example_code(turn, command)
    return texts.render(
        turn.language,
        command.error,
        word=command.word or word_for("join", turn.language),
        code=command.code or example,
        example=example,
        size=command.size or "M",
        maximum=MAX_QUANTITY,
    )


def example_code(turn: Turn, command: Command) -> str:
    """The session code an example in a reply should use: the one just typed (if it is a code), else the
    session in context, else the open session the buyer joined last, else `EXAMPLE_CODE`."""
    if command.code and command.error != "bad_code":
        return command.code
    code = context_code(turn)
    return code or _joined_open_session(turn.db, turn.buyer) or EXAMPLE_CODE


def _joined_open_session(db, buyer: Buyer) -> str | None:
    at = now()
    for participant in session_rows.buyer_participations(db, buyer, limit=5):
        if is_open(participant.session, at):
            return participant.session.code
    return None
