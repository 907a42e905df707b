"""Texts of closing, orders, purchase orders and the factory chat (buyers, factory and admin)."""

TEXTS: dict[str, dict[str, str]] = {
    # --- buyers, at close -------------------------------------------------------------------------------
    "notify_not_admitted": {
        "id": (
            "Sesi {code} ({product}) sudah ditutup. Antrean Anda ({size} x{quantity}) tidak terkonfirmasi, "
            "jadi tidak ada yang perlu dibayar."
        ),
        "en": (
            "Session {code} ({product}) has closed. Your waiting request ({size} x{quantity}) was not "
            "confirmed, so you owe nothing."
        ),
    },
    "notify_session_failed": {
        "id": (
            "Sesi {code} ({product}) ditutup tanpa mencapai minimum ({units}/{moq:pcs}). Sesi batal dan "
            "tidak ada yang perlu dibayar. Terima kasih sudah ikut!"
        ),
        "en": (
            "Session {code} ({product}) closed without reaching the minimum ({units}/{moq:pcs}). The session "
            "is off and you owe nothing. Thanks for joining!"
        ),
    },
    "notify_waiting_for_stock": {
        "id": (
            "Sesi {code} ({product}) mencapai minimum! Stok sedang kami pesan dari pabrik; kami kabari begitu "
            "pabrik mengonfirmasi. Belum ada yang perlu dibayar."
        ),
        "en": (
            "Session {code} ({product}) reached its minimum! We are ordering the stock from the factory and "
            "will tell you once the factory confirms. Nothing to pay yet."
        ),
    },
    "notify_orders_created": {
        "id": "Pesanan Anda untuk sesi {code} ({product}) sudah dibuat:\n{lines}\nTotal tagihan: {total}.{address}",
        "en": "Your order for session {code} ({product}) is ready:\n{lines}\nAmount due: {total}.{address}",
    },
    "order_line": {
        "id": "• {order}: {size} x{quantity} = {amount}",
        "en": "• {order}: {size} x{quantity} = {amount}",
    },
    "order_address_known": {"id": "\nDikirim ke: {address}", "en": "\nDelivery to: {address}"},
    "order_address_missing": {
        "id": "\nKami belum punya alamat pengiriman Anda. Balas: ALAMAT <alamat lengkap>",
        "en": "\nWe do not have your delivery address yet. Reply: ADDRESS <full address>",
    },
    "notify_session_cancelled": {
        "id": "Sesi {code} ({product}) dibatalkan oleh admin. Tidak ada yang perlu dibayar. Mohon maaf!",
        "en": "Session {code} ({product}) was cancelled by the admin. You owe nothing. Sorry!",
    },
    # --- buyers, the factory's answers ----------------------------------------------------------------------
    "notify_factory_confirmed": {
        "id": "Pabrik sudah mengonfirmasi stok untuk sesi {code} ({product}). Perkiraan siap: {eta}.",
        "en": "The factory confirmed the stock for session {code} ({product}). Expected: {eta}.",
    },
    "eta_unknown": {"id": "belum ditentukan", "en": "not given yet"},
    "notify_factory_declined": {
        "id": (
            "Pabrik belum bisa memenuhi stok untuk sesi {code} ({product}), jadi pesanan Anda tertunda. Admin "
            "kami sedang mencari jalan keluar dan akan mengabari Anda. Belum ada yang perlu dibayar."
        ),
        "en": (
            "The factory cannot supply the stock for session {code} ({product}) for now, so your order is "
            "delayed. Our admin is looking for a solution and will update you. Nothing to pay yet."
        ),
    },
    "notify_stock_shipped": {
        "id": (
            "Stok untuk sesi {code} ({product}) sudah dikirim pabrik ke gudang kami{tracking}. Pesanan Anda "
            "dibuat begitu barang tiba."
        ),
        "en": (
            "The factory has shipped the stock for session {code} ({product}) to our warehouse{tracking}. "
            "Your order is created as soon as it arrives."
        ),
    },
    "tracking_note": {"id": " (resi {tracking})", "en": " (tracking {tracking})"},
    # --- the factory ----------------------------------------------------------------------------------------
    "factory_po": {
        "id": (
            "PESANAN {po} dari Laku Grosir\n"
            "Produk: {product}\n"
            "Jumlah: {lots} grosir ({lot_size:pcs} per grosir)\n"
            "Per ukuran:\n{lines}\n"
            "Total: {total:pcs}\n\n"
            "Mohon balas:\n"
            "• SIAP {po} <perkiraan siap>: pesanan diterima\n"
            "• TOLAK {po} <alasan>: tidak bisa\n"
            "• KIRIM {po} <no. resi>: barang sudah dikirim"
        ),
        "en": (
            "PURCHASE ORDER {po} from Laku Grosir\n"
            "Product: {product}\n"
            "Lots: {lots} ({lot_size:pcs} per lot)\n"
            "Per size:\n{lines}\n"
            "Total: {total:pcs}\n\n"
            "Please reply:\n"
            "• CONFIRM {po} <expected date>: accepted\n"
            "• DECLINE {po} <reason>: cannot supply\n"
            "• SHIPPED {po} <tracking no.>: goods are on the way"
        ),
    },
    "factory_po_units": {
        "id": (
            "PESANAN {po} dari Laku Grosir\n"
            "Produk: {product}\n"
            "Per ukuran:\n{lines}\n"
            "Total: {total:pcs}\n\n"
            "Mohon balas:\n"
            "• SIAP {po} <perkiraan siap>: pesanan diterima\n"
            "• TOLAK {po} <alasan>: tidak bisa\n"
            "• KIRIM {po} <no. resi>: barang sudah dikirim"
        ),
        "en": (
            "PURCHASE ORDER {po} from Laku Grosir\n"
            "Product: {product}\n"
            "Per size:\n{lines}\n"
            "Total: {total:pcs}\n\n"
            "Please reply:\n"
            "• CONFIRM {po} <expected date>: accepted\n"
            "• DECLINE {po} <reason>: cannot supply\n"
            "• SHIPPED {po} <tracking no.>: goods are on the way"
        ),
    },
    "factory_po_line": {"id": "• {size}: {quantity:pcs}", "en": "• {size}: {quantity:pcs}"},
    "factory_po_reminder": {
        "id": (
            "Pengingat: pesanan {po} ({product}, {total:pcs}) belum dijawab. Balas SIAP {po} <perkiraan siap> "
            "atau TOLAK {po} <alasan>."
        ),
        "en": (
            "Reminder: purchase order {po} ({product}, {total:pcs}) has no answer yet. Reply CONFIRM {po} "
            "<expected date> or DECLINE {po} <reason>."
        ),
    },
    "factory_po_cancelled": {
        "id": "Pesanan {po} ({product}) DIBATALKAN oleh Laku Grosir. Mohon jangan diproses/dikirim. Maaf!",
        "en": "Purchase order {po} ({product}) was CANCELLED by Laku Grosir. Please do not make or ship it. Sorry!",
    },
    # --- replies to the factory's commands ----------------------------------------------------------------
    "factory_missing_po": {
        "id": "Sebutkan kode pesanan, contoh: {word} PO-GB1234-1",
        "en": "Please give the purchase order code, e.g. {word} PO-GB1234-1",
    },
    "factory_unknown_po": {
        "id": "Pesanan {po} tidak ditemukan. Periksa kodenya (contoh: SIAP PO-GB1234-1 besok).",
        "en": "Purchase order {po} was not found. Please check the code (e.g. CONFIRM PO-GB1234-1 tomorrow).",
    },
    "factory_po_not_yours": {
        "id": "Pesanan {po} bukan untuk {factory}. Tidak ada yang diubah.",
        "en": "Purchase order {po} is not addressed to {factory}. Nothing was changed.",
    },
    "factory_po_void": {
        "id": "Pesanan {po} sudah dibatalkan oleh Laku Grosir. Mohon jangan diproses. Tidak ada yang diubah.",
        "en": "Purchase order {po} was cancelled by Laku Grosir. Please do not process it. Nothing was changed.",
    },
    "factory_eta_note": {"id": ", perkiraan siap {eta}", "en": ", expected {eta}"},
    "factory_confirmed": {
        "id": "Terima kasih! Pesanan {po} dikonfirmasi{eta}. Balas KIRIM {po} <no. resi> saat barang dikirim.",
        "en": "Thank you! Purchase order {po} is confirmed{eta}. Reply SHIPPED {po} <tracking no.> once shipped.",
    },
    "factory_already_confirmed": {
        "id": "Pesanan {po} sudah dikonfirmasi sebelumnya{eta}. Tidak ada yang diubah.",
        "en": "Purchase order {po} was already confirmed{eta}. Nothing was changed.",
    },
    "factory_declined": {
        "id": "Pesanan {po} kami catat DITOLAK{reason}. Terima kasih kabarnya; admin kami akan menghubungi Anda.",
        "en": "Purchase order {po} is recorded as DECLINED{reason}. Thanks for letting us know; our admin will "
        "contact you.",
    },
    "factory_reason_note": {"id": " ({reason})", "en": " ({reason})"},
    "factory_already_declined": {
        "id": "Pesanan {po} sudah ditolak sebelumnya. Tidak ada yang diubah. Hubungi admin Laku bila berubah pikiran.",
        "en": "Purchase order {po} was already declined. Nothing was changed. Contact the Laku admin if that "
        "has changed.",
    },
    "factory_cannot_decline": {
        "id": "Pesanan {po} sudah {state}, jadi tidak bisa ditolak lewat chat. Hubungi admin Laku. "
        "Tidak ada yang diubah.",
        "en": "Purchase order {po} is already {state}, so it cannot be declined by chat. Please contact the "
        "Laku admin. Nothing was changed.",
    },
    "factory_state_confirmed": {"id": "dikonfirmasi", "en": "confirmed"},
    "factory_state_shipped": {"id": "dikirim", "en": "shipped"},
    "factory_state_received": {"id": "diterima di gudang", "en": "received at the warehouse"},
    "factory_shipped": {
        "id": "Terima kasih! Pesanan {po} tercatat dikirim{tracking}.",
        "en": "Thank you! Purchase order {po} is recorded as shipped{tracking}.",
    },
    "factory_already_shipped": {
        "id": "Pesanan {po} sudah tercatat dikirim{tracking}. Tidak ada yang diubah.",
        "en": "Purchase order {po} is already recorded as shipped{tracking}. Nothing was changed.",
    },
    "factory_already_received": {
        "id": "Pesanan {po} sudah diterima di gudang kami. Terima kasih! Tidak ada yang diubah.",
        "en": "Purchase order {po} has already arrived at our warehouse. Thank you! Nothing was changed.",
    },
    "factory_po_declined_closed": {
        "id": "Pesanan {po} sudah ditolak, jadi {word} tidak berlaku lagi. Hubungi admin Laku. Tidak ada yang diubah.",
        "en": "Purchase order {po} was declined, so {word} no longer applies. Please contact the Laku admin. "
        "Nothing was changed.",
    },
    # --- the admin ------------------------------------------------------------------------------------------
    "admin_po_declined": {
        "id": (
            "⚠️ Pesanan {po} (sesi {code}, {product}) DITOLAK oleh {factory}: {reason}. Sesi menunggu stok: "
            "cari sumber lain lalu terima PO (POST /api/v1/purchase-orders/{po}/receive) atau batalkan sesi "
            "(POST /api/v1/sessions/{code}/cancel)."
        ),
        "en": (
            "⚠️ Purchase order {po} (session {code}, {product}) was DECLINED by {factory}: {reason}. The session "
            "waits for stock: source it elsewhere and receive the PO (POST /api/v1/purchase-orders/{po}/receive) "
            "or cancel the session (POST /api/v1/sessions/{code}/cancel)."
        ),
    },
    "admin_no_reason": {"id": "tanpa alasan", "en": "no reason given"},
    "admin_send_failed": {
        "id": "⚠️ Laku: pesan #{message} ({kind}{where}) ke {to} gagal terkirim: {reason}",
        "en": "⚠️ Laku: message #{message} ({kind}{where}) to {to} could not be sent: {reason}",
    },
    "admin_send_failed_session": {"id": ", sesi #{session}", "en": ", session #{session}"},
}
