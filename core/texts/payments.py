"""Texts of online payment: the invoice at the provider, payment links in the order message, receipts,
expiry, STATUS lines, and the admin's payment alerts (see docs/design.md, "Orders and payment")."""

TEXTS: dict[str, dict[str, str]] = {
    # --- on the provider's checkout page and in its dashboard ------------------------------------------
    "invoice_description": {
        "id": "{product}, ukuran {size} ×{quantity} (sesi {code}, pesanan {order})",
        "en": "{product}, size {size} ×{quantity} (session {code}, order {order})",
    },
    # --- the order message: under each order line ---------------------------------------------------------
    "order_line_pay": {"id": "\n  Bayar sebelum {due}: {link}", "en": "\n  Pay by {due}: {link}"},
    "order_line_pay_admin": {
        "id": "\n  Link pembayaran belum tersedia; admin kami menghubungi Anda untuk pembayarannya.",
        "en": "\n  No payment link is available; our admin will contact you about paying.",
    },
    # --- buyers ---------------------------------------------------------------------------------------------
    "notify_payment_received": {
        "id": (
            "✅ Pembayaran diterima, terima kasih!\nPesanan {order} (sesi {code}, {product}): {size} x{quantity}\n"
            "Dibayar: {amount}, {paid_at}, lewat {channel}\nNo. referensi: {reference}"
        ),
        "en": (
            "✅ Payment received, thank you!\nOrder {order} (session {code}, {product}): {size} x{quantity}\n"
            "Paid: {amount}, {paid_at}, by {channel}\nReference: {reference}"
        ),
    },
    "notify_payment_expired": {
        "id": (
            "Batas waktu pembayaran pesanan {order} (sesi {code}, {product}: {size} x{quantity}) sudah lewat, "
            "jadi pesanan ini dibatalkan. Tidak ada yang perlu dibayar."
        ),
        "en": (
            "The payment deadline of order {order} (session {code}, {product}: {size} x{quantity}) has passed, "
            "so the order is cancelled. You owe nothing."
        ),
    },
    "notify_payment_review": {
        "id": (
            "Kami menerima pembayaran untuk pesanan {order} (sesi {code}, {product}), tetapi perlu dicek dulu "
            "oleh admin. Admin kami akan menghubungi Anda."
        ),
        "en": (
            "We received a payment for order {order} (session {code}, {product}), but our admin needs to check "
            "it first. Our admin will contact you."
        ),
    },
    # --- STATUS: after "order <code>" ----------------------------------------------------------------------
    "status_payment_invoicing": {"id": ", link pembayaran sedang dibuat", "en": ", payment link on its way"},
    "status_payment_pending": {
        "id": ", belum dibayar; bayar sebelum {due}: {link}",
        "en": ", unpaid; pay by {due}: {link}",
    },
    "status_payment_paid": {"id": ", lunas {paid_at}", "en": ", paid {paid_at}"},
    "status_payment_expired": {
        "id": ", kedaluwarsa (tidak ada tagihan)",
        "en": ", expired (nothing owed)",
    },
    "status_payment_review": {
        "id": ", pembayaran sedang dicek admin",
        "en": ", payment being checked by our admin",
    },
    "status_payment_failed": {"id": ", bayar lewat admin", "en": ", pay through our admin"},
    # --- the admin ------------------------------------------------------------------------------------------
    "admin_payment_alert": {
        "id": "⚠️ Laku: pembayaran pesanan {order} (sesi {code}, pembeli {buyer}): {problem}",
        "en": "⚠️ Laku: payment of order {order} (session {code}, buyer {buyer}): {problem}",
    },
    "admin_payment_unknown": {
        "id": (
            "⚠️ Laku: Xendit melaporkan invoice {invoice} ({external_id}, {status}) yang tidak cocok dengan "
            "pesanan mana pun. Dicatat; tidak ada yang diubah."
        ),
        "en": (
            "⚠️ Laku: Xendit reported invoice {invoice} ({external_id}, {status}), which matches no order. "
            "Recorded; nothing was changed."
        ),
    },
    "payment_problem_mismatch": {
        "id": "{reason} (invoice {invoice}). Pesanan TIDAK ditandai lunas; periksa di dashboard Xendit.",
        "en": "{reason} (invoice {invoice}). The order is NOT marked paid; check it in Xendit's dashboard.",
    },
    "payment_problem_late": {
        "id": (
            "dibayar (invoice {invoice}) setelah pesanan kedaluwarsa dan unitnya kembali ke stok. Pesanan "
            "TIDAK ditandai lunas: kirim barang bila stok masih ada, atau kembalikan dananya."
        ),
        "en": (
            "paid (invoice {invoice}) after the order expired and its units went back to stock. The order "
            "is NOT marked paid: ship it if the stock is still there, or refund the buyer."
        ),
    },
    "payment_problem_paid_twice": {
        "id": "dibayar lagi lewat invoice {invoice} padahal sudah lunas; kembalikan pembayaran kedua.",
        "en": "paid again through invoice {invoice} although already paid; refund the second payment.",
    },
    "payment_problem_failed": {
        "id": "link pembayaran tidak bisa dibuat ({reason}). Pembeli diminta membayar lewat admin: {amount}.",
        "en": "no payment link could be made ({reason}). The buyer is asked to pay through the admin: {amount}.",
    },
    "payment_problem_duplicate": {
        "id": (
            "Xendit memegang {count} invoice untuk pesanan ini ({invoices}); yang dipakai {invoice}, yang lain "
            "yang belum dibayar ditutup. Bila lebih dari satu terbayar, kembalikan kelebihannya."
        ),
        "en": (
            "Xendit holds {count} invoices for this order ({invoices}); {invoice} is used, the other unpaid "
            "ones are closed. If more than one was paid, refund the extra payment."
        ),
    },
    "payment_problem_missing": {
        "id": "Xendit tidak mengenal invoice {invoice} lagi; pesanan menunggu keputusan admin.",
        "en": "Xendit no longer knows invoice {invoice}; the order waits for the admin's decision.",
    },
}
