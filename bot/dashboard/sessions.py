"""Sessions: the open and recent ones at a glance, one session in full, close now and cancel (confirmed first).

Each session is the admin API's own JSON (`bot.admin_api.session_payload`), so any section the API gains
(the settlement as if it closed now, payment totals) is there for the templates too; they render the
sections they find.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, render_template, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bot import context, serializers
from bot.admin_api import session_payload
from bot.dashboard import web
from core import closing, purchase_orders, session_rows
from core.closing import CANCELLABLE_STATES, DUE_STATES, CloseOutcome
from core.models import GroupSession, Order, OutboundMessage, Participant, ParticipantStatus, SessionStatus

blueprint = Blueprint("sessions", __name__)

RECENT = 20
ROWS = 500  # buyers, orders and messages shown on one session's page


@dataclass(frozen=True)
class SizeBar:
    """One size's bar, in percent of a scale shared by every size of the session."""

    size: str
    allocation: int | None
    ordered: int
    cap: int | None
    waiting: int
    available: int | None
    locked: bool
    ordered_pct: float
    waiting_pct: float
    cap_pct: float | None


@dataclass(frozen=True)
class LotBars:
    sizes: list[SizeBar]
    lot_ticks: list[float]  # where each whole lot ends, in percent (grosir products only)
    lots_shown: int


def lot_bars(payload: dict) -> LotBars:
    """Per-size bars against the lot mix: each size is measured in lots of its own allocation (units /
    units per lot), so sizes that follow the mix are equally long and a size running ahead stands out;
    the cap marker shows where joining stops and the striped part what waits."""
    sizes = payload["sizes"]
    grosir = all(size["allocation"] for size in sizes) and bool(sizes)

    def reach(size: dict) -> float:
        furthest = max(size["cap"] or 0, size["ordered"] + size["waiting"])
        return furthest / size["allocation"] if grosir else furthest

    scale = max([payload["lead_lots"] if grosir else 1, *(reach(size) for size in sizes)])
    scale = max(scale, 1)

    def pct(units: int, size: dict) -> float:
        value = units / size["allocation"] if grosir else units
        return round(100 * value / scale, 2)

    bars = [
        SizeBar(
            size=size["size"],
            allocation=size["allocation"],
            ordered=size["ordered"],
            cap=size["cap"],
            waiting=size["waiting"],
            available=size["available"],
            locked=size["locked"],
            ordered_pct=pct(size["ordered"], size),
            waiting_pct=pct(size["waiting"], size),
            cap_pct=pct(size["cap"], size) if size["cap"] is not None else None,
        )
        for size in sizes
    ]
    whole = int(scale) if grosir else 0
    ticks = [round(100 * lot / scale, 2) for lot in range(1, whole + 1)] if grosir else []
    return LotBars(bars, ticks, whole)


def progress_pct(payload: dict) -> float:
    return round(min(100.0, 100 * payload["units"] / payload["target_moq"]), 1)


def _cards(db: Session, sessions: list[GroupSession]) -> list[dict]:
    cards = []
    for session in sessions:
        payload = session_payload(db, session)
        cards.append({"session": payload, "bars": lot_bars(payload), "progress": progress_pct(payload)})
    return cards


@blueprint.get("/")
def index():
    finished = func.coalesce(GroupSession.closed_at, GroupSession.cancelled_at, GroupSession.created_at)
    with context.db_factory()() as db:
        running = db.scalars(
            select(GroupSession)
            .where(GroupSession.status.in_(SessionStatus.JOINABLE))
            .order_by(GroupSession.ends_at, GroupSession.id)
        ).all()
        recent = db.scalars(
            select(GroupSession)
            .where(GroupSession.status.not_in(SessionStatus.JOINABLE))
            .order_by(finished.desc(), GroupSession.id.desc())
            .limit(RECENT)
        ).all()
        return render_template(
            "dashboard/sessions.html", running=_cards(db, list(running)), recent=_cards(db, list(recent))
        )


def _session_or_404(db: Session, code: str) -> GroupSession:
    session = session_rows.find_session(db, code)
    if session is None:
        abort(404)
    return session


@blueprint.get("/sessions/<code>")
def show(code: str):
    with context.db_factory()() as db:
        session = _session_or_404(db, code)
        payload = session_payload(db, session)
        joins = session_rows.participants(db, session.id, *ParticipantStatus.ALL)
        orders = db.scalars(
            select(Order)
            .where(Order.session_id == session.id)
            .options(selectinload(Order.participant).selectinload(Participant.buyer))
            .order_by(Order.id)
            .limit(ROWS)
        ).all()
        sent = db.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.session_id == session.id)
            .order_by(OutboundMessage.id.desc())
            .limit(ROWS)
        ).all()
        return render_template(
            "dashboard/session.html",
            session=payload,
            bars=lot_bars(payload),
            progress=progress_pct(payload),
            buyers=[serializers.participant_json(p) for p in joins if p.status != ParticipantStatus.WAITING][
                :ROWS
            ],
            waiting=_waiting_line(joins),
            purchase_orders=[
                serializers.purchase_order_json(purchase_orders.find_purchase_order(db, po.code), session)
                for po in purchase_orders.purchase_orders_of(db, session.id)
            ],
            orders=[serializers.order_json(order) for order in orders],
            messages=[serializers.outbound_json(message) for message in sent],
            can_close=session.status in DUE_STATES,
            can_cancel=session.status in CANCELLABLE_STATES,
        )


def _waiting_line(joins: list[Participant]) -> list[dict]:
    """Waiting requests, oldest first, each with its place in its size's line (1 = next)."""
    places: dict[str, int] = {}
    line = []
    for participant in joins:
        if participant.status == ParticipantStatus.WAITING:
            size = participant.variant.size
            places[size] = places.get(size, 0) + 1
            line.append(serializers.participant_json(participant) | {"place": places[size]})
    return line[:ROWS]


# --- close now and cancel: a confirmation page, then the same core operation as the API and the CLI -----


@blueprint.get("/sessions/<code>/<any(close, cancel):action>")
def confirm(code: str, action: str):
    with context.db_factory()() as db:
        session = _session_or_404(db, code)
        payload = session_payload(db, session)
    return render_template("dashboard/confirm.html", session=payload, action=action)


@blueprint.post("/sessions/<code>/close")
def close(code: str):
    def done(outcome: CloseOutcome) -> str:
        said = web.t(
            f"close.done.{outcome.result}", code=outcome.session_code, po=outcome.purchase_order_code
        )
        if outcome.admitted or outcome.not_admitted:  # what settlement decided for the waiting line
            said += " " + web.t("close.settled", admitted=outcome.admitted, not_admitted=outcome.not_admitted)
        return said

    web.attempt(
        lambda: closing.close_now(context.db_factory(), context.dispatch(), code, context.settings()),
        done,
        web.t("close.failed", code=code),
    )
    return web.back(url_for("dashboard.sessions.show", code=code))


@blueprint.post("/sessions/<code>/cancel")
def cancel(code: str):
    web.attempt(
        lambda: closing.cancel(context.db_factory(), context.dispatch(), code, context.settings()),
        lambda session: web.t("cancel.done", code=session.code),
        web.t("cancel.failed", code=code),
    )
    return web.back(url_for("dashboard.sessions.show", code=code))
