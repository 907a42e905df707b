"""Texts of the conversation around the commands: what the bot understood, what it asks, the guided flow.

Read with `core.dialogue` and `core.guided_flow`. A guided step is a WhatsApp list picker or quick-reply
buttons when a Content SID is set (`prompt` fields fill the template); otherwise the same prompt with its
options numbered, in the reply.
"""

TEXTS: dict[str, dict[str, str]] = {
    # --- what was understood, and what was not ---
    "not_understood": {
        "id": (
            "Maaf kak, saya belum paham maksudnya 🙏 Saya bot pemesanan Laku Grosir.\n"
            "• SESI: sesi yang sedang buka\n"
            "• INFO <kode>: harga dan stok per ukuran\n"
            "• IKUT <kode>: ikut sesi, saya pandu pilih ukuran dan jumlahnya\n"
            "Kirim MENU untuk semua perintah."
        ),
        "en": (
            "Sorry, I did not quite get that 🙏 I am the Laku Grosir ordering bot.\n"
            "• LIST: open sessions\n"
            "• INFO <code>: price and stock per size\n"
            "• JOIN <code>: join a session, I will guide you through the size and quantity\n"
            "Send HELP for every command."
        ),
    },
    "you_are_welcome": {
        "id": "Sama-sama kak 🙏 Kirim SESI kapan saja untuk melihat sesi yang buka, atau STATUS untuk pesanan Anda.",
        "en": "You're welcome 🙏 Send LIST any time for open sessions, or STATUS for your joins.",
    },
    "context_code": {
        "id": "(Sesi {code}, dari percakapan tadi.)\n",
        "en": "(Session {code}, from our conversation.)\n",
    },
    "several_codes": {
        "id": "Satu pesan untuk satu sesi ya. Tulis dulu {word} {code} ..., lalu sesi lainnya di pesan berikutnya.",
        "en": "One session per message, please. Send {word} {code} ... first, then the other session in a new message.",
    },
    "size_twice": {
        "id": "Ukuran yang sama tertulis dua kali. Tulis setiap ukuran sekali, misalnya: {word} {code} M 2, L 1",
        "en": "The same size is written twice. Write each size once, e.g. {word} {code} M 2, L 1",
    },
    "quantity_unclear": {
        "id": "Jumlahnya kurang jelas untuk ukuran yang mana. Tulis jumlah setelah ukurannya, misalnya: {word} {code} M 2, L 1",
        "en": "I could not tell which quantity goes with which size. Write it after the size, e.g. {word} {code} M 2, L 1",
    },
    "too_many_sizes": {
        "id": "Paling banyak 10 ukuran dalam satu pesan. Kirim sisanya di pesan berikutnya.",
        "en": "At most 10 sizes in one message. Please send the rest in another message.",
    },
    "address_incomplete": {
        "id": "Alamatnya belum lengkap: tulis jalan dan nomor rumah, kota dan kode pos. Contoh: ALAMAT Jl. Melati No. 5, Bandung 40111",
        "en": "That address is not complete: write the street and number, the city and the postcode. Example: ADDRESS Jl. Melati No. 5, Bandung 40111",
    },
    # --- a guess is asked before anything changes ---
    "did_you_mean": {
        "id": "Maksud Anda: {proposal}?{guesses}",
        "en": "Did you mean: {proposal}?{guesses}",
    },
    "did_you_mean_reply": {"id": "Balas YA untuk lanjut, atau TIDAK.", "en": "Reply YES to go ahead, or NO."},
    "guess_word": {
        "id": ' ("{typed}" saya baca {meant}.)',
        "en": ' (I read "{typed}" as {meant}.)',
    },
    "guess_code": {
        "id": ' (Kode "{typed}" saya baca {meant}.)',
        "en": ' (I read the code "{typed}" as {meant}.)',
    },
    "guess_size": {
        "id": ' (Ukuran "{typed}" saya baca {meant}.)',
        "en": ' (I read the size "{typed}" as {meant}.)',
    },
    "guess_intent": {
        "id": " (Pesan Anda tanpa kata IKUT, jadi saya pastikan dulu.)",
        "en": " (Your message did not say JOIN, so I am making sure first.)",
    },
    "guess_question": {
        "id": " (Anda bertanya, jadi saya pastikan dulu sebelum mencatat.)",
        "en": " (You asked a question, so I am making sure before I record anything.)",
    },
    "guess_extra": {
        "id": ' ("{typed}" tidak saya pahami dan tidak ikut dicatat.)',
        "en": ' (I did not understand "{typed}", so it is left out.)',
    },
    "guess_scope": {
        "id": " (BATAL berlaku untuk semua pesanan Anda di sesi itu, bukan hanya ukuran {typed}.)",
        "en": " (LEAVE applies to all your joins in that session, not only size {typed}.)",
    },
    "confirm_leave": {
        "id": "Keluar dari sesi {code}? Semua pesanan dan antrean Anda di sesi itu dilepas.",
        "en": "Leave session {code}? All your joins and waiting requests in it are released.",
    },
    "confirm_leave_reply": {"id": "Balas YA untuk keluar, atau TIDAK.", "en": "Reply YES to leave, or NO."},
    "proposal_dropped": {
        "id": "Baik, tidak jadi. Tidak ada yang berubah.",
        "en": "OK, dropped. Nothing changed.",
    },
    "nothing_pending": {
        "id": "Saat ini tidak ada yang perlu dijawab YA atau TIDAK. Kirim SESI untuk sesi yang buka, atau MENU untuk semua perintah.",
        "en": "There is nothing to answer YES or NO to right now. Send LIST for open sessions, or HELP for every command.",
    },
    "flow_expired": {
        "id": "Maaf, pilihan tadi sudah kedaluwarsa (lebih dari {minutes} menit) dan tidak ada yang dicatat. Mulai lagi dengan IKUT <kode>, atau kirim SESI.",
        "en": "Sorry, that choice has expired (after {minutes} minutes) and nothing was recorded. Start again with JOIN <code>, or send LIST.",
    },
    # --- the guided flow: session, size, quantity, then a yes ---
    "choose_session": {
        "id": "Mau ikut sesi yang mana?",
        "en": "Which session would you like to join?",
    },
    "choose_session_item": {
        "id": "{product}, {price}/pcs, tutup {ends}",
        "en": "{product}, {price}/pc, closes {ends}",
    },
    "choose_session_reply": {
        "id": "Balas angkanya (1-{count}) atau kode sesinya.",
        "en": "Reply with its number (1-{count}) or its code.",
    },
    "choose_size": {
        "id": "Sesi {code}: {product}, {price}/pcs. Pilih ukuran:",
        "en": "Session {code}: {product}, {price}/pc. Choose a size:",
    },
    "choose_size_free": {"id": "sisa {available:pcs}", "en": "{available:pcs} left"},
    "choose_size_uncapped": {"id": "tersedia", "en": "available"},
    "choose_size_locked": {
        "id": "🔒 antre dulu; terbuka setelah {catch_up} lagi dipesan",
        "en": "🔒 you would wait; opens once someone orders {catch_up}",
    },
    "choose_size_closed": {
        "id": "🔒 terkunci sampai {catch_up} lagi dipesan",
        "en": "🔒 locked until someone orders {catch_up}",
    },
    "choose_size_full": {"id": "🔒 penuh", "en": "🔒 full"},
    "choose_size_reply": {
        "id": "Balas angkanya (1-{count}) atau ukurannya, misalnya {example}.",
        "en": "Reply with its number (1-{count}) or the size, e.g. {example}.",
    },
    "choose_size_unknown": {
        "id": "Ukuran {size} tidak ada di sesi {code}.\n",
        "en": "Size {size} is not in session {code}.\n",
    },
    "choose_quantity": {
        "id": "Sesi {code}, ukuran {size} ({note}). Berapa pcs?",
        "en": "Session {code}, size {size} ({note}). How many pieces?",
    },
    "choose_quantity_reply": {
        "id": "Balas jumlahnya dalam angka, misalnya 2.",
        "en": "Reply with the quantity as a number, e.g. 2.",
    },
    "choose_quantity_button": {"id": "{quantity:pcs}", "en": "{quantity:pcs}"},
    "confirm_join": {
        "id": "Ikut sesi {code}: {lines}, total {total}. Dibayar setelah pesanan dibuat.",
        "en": "Join session {code}: {lines}, total {total}. Paid once your order is created.",
    },
    "confirm_join_reply": {"id": "Balas YA untuk ikut, atau TIDAK.", "en": "Reply YES to join, or NO."},
    "confirm_line": {"id": "{quantity:pcs} ukuran {size}", "en": "{quantity:pcs} of size {size}"},
    "choose_button": {"id": "Pilih", "en": "Choose"},
    "interactive": {"id": "{body}", "en": "{body}"},  # a list or buttons: the outbox keeps the numbered text
    "answer_yes": {"id": "YA", "en": "YES"},
    "answer_no": {"id": "TIDAK", "en": "NO"},
    # --- several sizes in one join: what happened to each ---
    "joined_lines_header": {
        "id": "Sesi {code} ({product}), per ukuran:",
        "en": "Session {code} ({product}), per size:",
    },
    "joined_line": {
        "id": "• {size} {quantity:pcs}: ✅ tercatat, {total}",
        "en": "• {size} {quantity:pcs}: ✅ done, {total}",
    },
    "waiting_line": {
        "id": "• {size} {quantity:pcs}: ⏳ antre ke-{position}, terbuka setelah {catch_up} lagi dipesan (belum perlu bayar)",
        "en": "• {size} {quantity:pcs}: ⏳ waiting, number {position}, opens once someone orders {catch_up} (nothing owed yet)",
    },
    "refused_line": {
        "id": "• {size} {quantity:pcs}: ❌ {reason}",
        "en": "• {size} {quantity:pcs}: ❌ {reason}",
    },
    "joined_lines_footer": {
        "id": "Total tercatat {total} (dibayar setelah pesanan dibuat). Terkumpul {units}/{moq:pcs}.{moq_note}\nKeluar: BATAL {code}",
        "en": "Total confirmed {total} (paid once your order is created). Collected {units}/{moq:pcs}.{moq_note}\nTo leave: LEAVE {code}",
    },
}
