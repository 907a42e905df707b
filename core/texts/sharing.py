"""Texts of deadline reminders, share links, referrals and the BERHENTI/MULAI opt-out."""

TEXTS: dict[str, dict[str, str]] = {
    # --- the reminder (notice REMINDER) ---------------------------------------------------------------------
    "notify_reminder": {
        "id": (
            "⏰ Sesi {code} ({product}) tutup {ends}.\n{news}\n"
            "Ajak teman supaya cepat terkumpul: {link}\nTidak mau pengingat lagi? Balas BERHENTI."
        ),
        "en": (
            "⏰ Session {code} ({product}) closes {ends}.\n{news}\n"
            "Bring friends in to fill it faster: {link}\nNo more reminders? Reply STOP."
        ),
    },
    "reminder_missing": {
        "id": (
            "Masih kurang {missing:pcs} untuk mencapai minimum ({units}/{moq:pcs}). Kalau tidak tercapai, "
            "sesi batal dan tidak ada yang perlu dibayar."
        ),
        "en": (
            "It still needs {missing:pcs} to reach the minimum ({units}/{moq:pcs}). If it does not, the "
            "session is off and nobody owes anything."
        ),
    },
    "reminder_waiting": {
        "id": "Antrean Anda {size} x{quantity} masuk setelah {catch_up} lagi dipesan.",
        "en": "Your waiting request {size} x{quantity} gets in once someone orders {catch_up}.",
    },
    "reminder_waiting_at_close": {
        "id": "Antrean Anda {size} x{quantity} diputuskan saat sesi tutup.",
        "en": "Your waiting request {size} x{quantity} is settled when the session closes.",
    },
    # --- share prompts (INFO, the join reply) ---------------------------------------------------------------
    "share_line": {
        "id": "📣 Ajak teman ikut {code}: {link}",
        "en": "📣 Invite friends to {code}: {link}",
    },
    # --- BERHENTI / MULAI -----------------------------------------------------------------------------------
    "stop_done": {
        "id": (
            "🔕 Baik, pengingat dan ajakan berbagi tidak kami kirim lagi. Kabar tentang pesanan Anda sendiri "
            "tetap kami kirim. Kirim MULAI untuk menyalakannya lagi."
        ),
        "en": (
            "🔕 OK, no more reminders or invitations to share. News about your own joins and orders still "
            "comes. Send START to turn them back on."
        ),
    },
    "stop_already": {
        "id": "🔕 Pengingat sudah mati. Kirim MULAI untuk menyalakannya lagi.",
        "en": "🔕 Reminders are already off. Send START to turn them back on.",
    },
    "start_done": {
        "id": "🔔 Pengingat menyala lagi. Kirim BERHENTI kapan saja untuk mematikannya.",
        "en": "🔔 Reminders are back on. Send STOP any time to turn them off.",
    },
    "start_already": {
        "id": "🔔 Pengingat sudah menyala. Kirim BERHENTI kapan saja untuk mematikannya.",
        "en": "🔔 Reminders are already on. Send STOP any time to turn them off.",
    },
    # --- STATUS ---------------------------------------------------------------------------------------------
    "status_referrals_one": {
        "id": "👥 1 teman ikut lewat link Anda.",
        "en": "👥 1 friend joined through your link.",
    },
    "status_referrals": {
        "id": "👥 {friends} teman ikut lewat link Anda.",
        "en": "👥 {friends} friends joined through your link.",
    },
    "status_reminders_on": {
        "id": "🔔 Pengingat: menyala (BERHENTI untuk mematikan)",
        "en": "🔔 Reminders: on (STOP to turn them off)",
    },
    "status_reminders_off": {
        "id": "🔕 Pengingat: mati (MULAI untuk menyalakan)",
        "en": "🔕 Reminders: off (START to turn them on)",
    },
}
