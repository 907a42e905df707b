"""Texts of settlement at close (docs/design.md, "Settlement at close" and "Waitlist"): requests that only
settlement can serve, the third way on after "too many", and the close's news to an admitted buyer."""

TEXTS: dict[str, dict[str, str]] = {
    # --- replies that put a request in line ------------------------------------------------------------
    "waiting_for_settlement": {
        "id": (
            "⏳ Permintaan {quantity:pcs} ukuran {size} di sesi {code} masuk antrean (urutan ke-{position}). "
            "{reason}, jadi permintaan ini hanya bisa diputuskan saat sesi tutup, paling lambat {ends}. "
            "BELUM terkonfirmasi dan belum ada yang perlu dibayar; kami kabari lewat WhatsApp apa pun "
            "hasilnya.\nBatalkan antrean: BATAL {code}"
        ),
        "en": (
            "⏳ Your request for {quantity:pcs} of size {size} in session {code} is waiting (number {position} "
            "in line). {reason}, so it can only be settled when the session closes, by {ends} at the latest. "
            "It is NOT confirmed yet and nothing is owed; we will tell you on WhatsApp either way.\n"
            "To withdraw: LEAVE {code}"
        ),
    },
    "settlement_only_over_max": {
        "id": "Selama sesi berjalan, ukuran {size} paling banyak {maximum:pcs} per permintaan",
        "en": "While the session runs, size {size} takes at most {maximum:pcs} per request",
    },
    "settlement_only_full": {
        "id": "Ukuran {size} sudah penuh selama sesi berjalan",
        "en": "Size {size} is full while the session runs",
    },
    "waiting_line_at_close": {  # one size of a several-size join (core.texts.conversation's waiting_line)
        "id": "• {size} {quantity:pcs}: ⏳ antre ke-{position}, hanya bisa diputuskan saat sesi tutup (belum perlu bayar)",
        "en": "• {size} {quantity:pcs}: ⏳ waiting, number {position}, can only be settled at close (nothing owed yet)",
    },
    "waiting_lines_settled_by": {
        "id": "Antrean paling lambat diputuskan saat sesi tutup, {ends}; tidak ada yang perlu dibayar sebelum terkonfirmasi.",
        "en": "Waiting requests are settled when the session closes, {ends}, at the latest; nothing is owed unless confirmed.",
    },
    # --- "too many": the third way on, beside IKUT <n> and ANTRE <qty> --------------------------------
    "too_many_split": {
        "id": (
            "\nAtau keduanya: ambil {available:pcs} sekarang dan antre sisanya. Kirim IKUT {code} {size} "
            "{available}, lalu ANTRE {code} {size} {rest}"
        ),
        "en": (
            "\nOr both: take {available:pcs} now and wait for the rest. Send JOIN {code} {size} {available}, "
            "then WAIT {code} {size} {rest}"
        ),
    },
    # --- buyers, at close -------------------------------------------------------------------------------
    "notify_settled_admitted": {
        "id": (
            "✅ Sesi {code} ({product}) sudah ditutup dan antrean Anda terkonfirmasi: {quantity:pcs} ukuran "
            "{size}, total {total}. Langkah berikutnya kami kabari lewat WhatsApp."
        ),
        "en": (
            "✅ Session {code} ({product}) has closed and your waiting request is confirmed: {quantity:pcs} of "
            "size {size}, total {total}. We will tell you the next step on WhatsApp."
        ),
    },
}
