"""Typed SQLAlchemy 2 models, one module per part of the data model (see docs/design.md).

Everything is re-exported here, so `from core.models import X` is the one way callers name a model; a
later model module is imported below so that `Base.metadata` (Alembic's target) knows its tables.
"""

from core.allocation import AllocationPolicyName
from core.models.base import (
    NAMING,
    Base,
    OutboundStatus,
    ParticipantStatus,
    PurchaseOrderStatus,
    SessionStatus,
    Timestamp,
)
from core.models.catalog import Factory, GrosirVariantAllocation, Product, Variant
from core.models.conversation import ConversationState
from core.models.messages import InboundMessage, OutboundMessage
from core.models.operators import LoginThrottle, Operator
from core.models.payments import OrderPayment, OrderStatus, PaymentEvent, PaymentStatus
from core.models.referrals import Referral
from core.models.sessions import Buyer, GroupSession, Participant, SessionVariantCounter
from core.models.stock import Order, PurchaseOrder, PurchaseOrderLine, Shipment, WarehouseInventory

__all__ = [
    "NAMING",
    "AllocationPolicyName",
    "Base",
    "Buyer",
    "ConversationState",
    "Factory",
    "GroupSession",
    "GrosirVariantAllocation",
    "InboundMessage",
    "LoginThrottle",
    "Operator",
    "Order",
    "OrderPayment",
    "OrderStatus",
    "OutboundMessage",
    "OutboundStatus",
    "Participant",
    "ParticipantStatus",
    "Product",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PaymentEvent",
    "PaymentStatus",
    "PurchaseOrderStatus",
    "Referral",
    "SessionStatus",
    "SessionVariantCounter",
    "Shipment",
    "Timestamp",
    "Variant",
    "WarehouseInventory",
]
