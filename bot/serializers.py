"""Every JSON shape of the admin API, built here and nowhere else, with one timestamp formatter.

Handlers load data through `core` and pass it in; these functions only shape it.
"""

from __future__ import annotations

from datetime import datetime

from core.catalog import decimal_text, product_allocations
from core.clock import as_utc
from core.closing import CloseOutcome
from core.models import (
    Buyer,
    Factory,
    GroupSession,
    InboundMessage,
    Order,
    OutboundMessage,
    Participant,
    Product,
    PurchaseOrder,
    WarehouseInventory,
)
from core.purchase_orders import ReceiveOutcome
from core.session_settlement import SettlementPreview
from core.session_view import SessionView
from core.sharing import ReferralRow, ReferralSummary

SESSION_TIMES = (
    "starts_at ends_at moq_reached_at warehouse_check_at factory_notified_at stock_received_at "
    "orders_created_at closed_at cancelled_at created_at"
).split()
PURCHASE_ORDER_TIMES = "requested_at confirmed_at declined_at shipped_at received_at reminded_at".split()


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with an explicit offset (`...+00:00`), whatever the database handed back."""
    return as_utc(value).isoformat() if value else None


def factory_json(factory: Factory) -> dict:
    return {"id": factory.id, "name": factory.name, "phone": factory.phone, "address": factory.address}


def product_json(product: Product) -> dict:
    allocations = product_allocations(product)
    return {
        "id": product.id,
        "factory_id": product.factory_id,
        "name": product.name,
        "sku": product.sku,
        "price": product.price,
        "grosir_unit_size": product.grosir_unit_size,
        "lead_lots": product.lead_lots,
        "allocation_policy": product.allocation_policy,
        "waitlist_enabled": product.waitlist_enabled,
        "excess_weight": decimal_text(product.excess_weight),
        "variants": [
            {"id": v.id, "size": v.size, "sku": v.sku, "units_per_lot": allocations.get(v.size)}
            for v in product.variants
        ],
    }


def settlement_json(preview: SettlementPreview | None) -> dict | None:
    """Settlement as if the session closed now (docs/design.md, "Settlement at close"); None once closed.
    The dashboard reads these keys: keep them stable."""
    if preview is None:
        return None
    return {
        "reached": preview.reached,
        "lots": preview.lots,
        "admitted_units": dict(preview.admitted_units),
        "excess": preview.excess,
        "refused_units": preview.refused_units,
        "cost": preview.cost,
        "admitted_requests": preview.admitted_requests,
        "not_admitted_requests": preview.not_admitted_requests,
        "free_stock": None if preview.free_stock is None else dict(preview.free_stock),
        "warehouse_error": preview.warehouse_error,
    }


def session_json(
    view: SessionView,
    purchase_orders: list[PurchaseOrder],
    payments: dict[str, dict[str, int]] | None = None,
    referrals: ReferralSummary | None = None,
    settlement: SettlementPreview | None = None,
) -> dict:
    """A session as the admin sees it: status, times, units and MOQ, each size's state, its purchase
    orders (code and status), its orders' payments (`core.payment_summary.session_totals`: paid,
    pending, expired and review, each with orders and amount in rupiah; all zero without online payment),
    the friends its buyers brought in (`core.sharing.session_referrals`: count and top sharers), and its
    settlement as if it closed now (`settlement_json`; null once closed)."""
    session = view.session
    sizes = []
    for size in view.sizes:
        state = view.states[size]
        needs = view.catch_up(size, 1) if state.locked else []
        sizes.append(
            {
                "size": size,
                "allocation": state.allocation,
                "ordered": state.ordered,
                "cap": state.cap,
                "available": state.available,
                "locked": state.locked,
                "waiting": view.waiting.get(size, 0),
                "unlocks_after": None
                if needs is None
                else [{"size": n.size, "units": n.units} for n in needs],
            }
        )
    return {
        "code": session.code,
        "status": session.status,
        "product": {"id": view.product.id, "name": view.product.name, "sku": view.product.sku},
        "price": session.price,
        "target_moq": session.target_moq,
        "units": session.ordered_units,
        "waiting_units": sum(view.waiting.values()),
        "moq_reached": session.ordered_units >= session.target_moq,
        "lead_lots": view.product.lead_lots,
        "allocation_policy": view.product.allocation_policy,
        "waitlist_enabled": view.product.waitlist_enabled,
        "excess_weight": decimal_text(view.product.excess_weight),
        "warehouse_has_stock": session.warehouse_has_stock,
        "factory_whatsapp_sent": session.factory_whatsapp_sent,
        "grosir_units_needed": session.grosir_units_needed,
        "last_error": session.last_error,
        **{name: iso(getattr(session, name)) for name in SESSION_TIMES},
        "sizes": sizes,
        "purchase_orders": [{"code": po.code, "status": po.status} for po in purchase_orders],
        "settlement": settlement_json(settlement),
        "payments": payments,
        "referrals": None if referrals is None else referrals_json(referrals),
    }


def referrals_json(summary: ReferralSummary) -> dict:
    return {
        "count": summary.count,
        "top_sharers": [{"phone": s.phone, "name": s.name, "count": s.count} for s in summary.top_sharers],
    }


def referral_list_json(session: GroupSession, summary: ReferralSummary, rows: list[ReferralRow]) -> dict:
    """GET /referrals?session=<code>: the summary and every referral, oldest first."""
    return {
        "session": session.code,
        **referrals_json(summary),
        "referrals": [
            {"sharer": r.sharer_phone, "referred": r.referred_phone, "created_at": iso(r.created_at)}
            for r in rows
        ],
    }


def close_json(outcome: CloseOutcome) -> dict:
    return {
        "session_code": outcome.session_code,
        "result": outcome.result,
        "status": outcome.result,
        "purchase_order_code": outcome.purchase_order_code,
        "lots": outcome.lots,
        "orders": outcome.orders,
        "admitted": outcome.admitted,
        "not_admitted": outcome.not_admitted,
    }


def purchase_order_json(po: PurchaseOrder, session: GroupSession) -> dict:
    """A purchase order: lines, status, times, its factory and its session."""
    lines = sorted(po.lines, key=lambda line: line.variant_id)
    return {
        "code": po.code,
        "status": po.status,
        "session": {"code": session.code, "status": session.status},
        "factory": {"id": po.factory.id, "name": po.factory.name, "phone": po.factory.phone},
        "lots": po.lots,
        "grosir_units_needed": session.grosir_units_needed,
        "lines": [
            {"size": line.variant.size, "sku": line.variant.sku, "quantity": line.quantity} for line in lines
        ],
        "total_units": sum(line.quantity for line in lines),
        "eta": po.eta,
        "tracking": po.tracking,
        "decline_reason": po.decline_reason,
        "factory_whatsapp_sent": session.factory_whatsapp_sent,
        "factory_notified_at": iso(session.factory_notified_at),
        **{name: iso(getattr(po, name)) for name in PURCHASE_ORDER_TIMES},
    }


def receipt_json(outcome: ReceiveOutcome) -> dict:
    return {"orders_created": outcome.orders, "leftover": outcome.leftover}


def inventory_json(sku: str, row: WarehouseInventory) -> dict:
    return {
        "sku": sku,
        "on_hand": row.on_hand,
        "reserved": row.reserved,
        "available": row.on_hand - row.reserved,
    }


def inbound_json(message: InboundMessage) -> dict:
    return {
        "message_sid": message.message_sid,
        "from": message.from_phone,
        "body": message.body,
        "command": message.command,
        "reply": message.reply,
        "received_at": iso(message.received_at),
    }


def outbound_json(message: OutboundMessage) -> dict:
    return {
        "id": message.id,
        "to": message.to_phone,
        "kind": message.kind,
        "body": message.body,
        "content_sid": message.content_sid,
        "status": message.status,
        "provider_sid": message.provider_sid,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
    }


def messages_json(inbound: list[InboundMessage], outbound: list[OutboundMessage]) -> dict:
    return {"inbound": [inbound_json(m) for m in inbound], "outbound": [outbound_json(m) for m in outbound]}


def _buyer_json(buyer: Buyer) -> dict:
    return {"phone": buyer.phone, "name": buyer.name}


def participant_json(participant: Participant) -> dict:
    """One join or waiting request, with its buyer (the dashboard's buyers and waiting line)."""
    return {
        "id": participant.id,
        "buyer": _buyer_json(participant.buyer),
        "size": participant.variant.size,
        "quantity": participant.quantity,
        "total": participant.total,
        "status": participant.status,
        "requested_at": iso(participant.requested_at),
        "joined_at": iso(participant.joined_at),
    }


def order_json(order: Order) -> dict:
    participant = order.participant
    return {
        "code": order.code,
        "buyer": _buyer_json(participant.buyer),
        "size": participant.variant.size,
        "quantity": order.quantity,
        "amount_due": order.amount_due,
        "delivery_address": order.delivery_address,
        "needs_address": order.needs_address,
        "status": order.status,
        "created_at": iso(order.created_at),
    }
