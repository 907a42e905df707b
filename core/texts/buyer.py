"""Texts of the buyer conversation (commands, replies, refusals, join notifications)."""

TEXTS: dict[str, dict[str, str]] = {
    "menu": {
        "id": (
            "Halo{name}! Laku Grosir: beli bareng per grosir, harga pabrik.\n"
            "Perintah:\n"
            "• SESI: sesi yang sedang buka\n"
            "• INFO <kode>: harga, batas waktu, stok per ukuran\n"
            "• IKUT <kode> <ukuran> [jumlah]: ikut sesi (contoh: IKUT {example} M 2)\n"
            "• ANTRE <kode> <ukuran> <jumlah>: antre untuk ukuran yang terkunci\n"
            "• BATAL <kode>: keluar dari sesi\n"
            "• STATUS: pesanan saya\n"
            "• ALAMAT <alamat lengkap>: alamat pengiriman\n"
            "English: send HELP."
        ),
        "en": (
            "Hi{name}! Laku Grosir: group buying by the wholesale lot, at factory prices.\n"
            "Commands:\n"
            "• LIST: open sessions\n"
            "• INFO <code>: price, deadline, stock per size\n"
            "• JOIN <code> <size> [qty]: join a session (e.g. JOIN {example} M 2)\n"
            "• WAIT <code> <size> <qty>: wait for a locked size\n"
            "• LEAVE <code>: leave a session\n"
            "• STATUS: my joins\n"
            "• ADDRESS <full address>: delivery address\n"
            "Bahasa Indonesia: kirim MENU."
        ),
    },
    "unknown": {
        "id": 'Maaf, perintah "{word}" tidak dikenal. Kirim MENU untuk daftar perintah, atau SESI untuk sesi yang buka.',
        "en": 'Sorry, "{word}" is not a command I know. Send HELP for the list, or LIST for open sessions.',
    },
    "empty": {
        "id": "Halo! Kirim MENU untuk daftar perintah, atau SESI untuk melihat sesi yang buka.",
        "en": "Hi! Send HELP for the list of commands, or LIST to see open sessions.",
    },
    "too_long": {
        "id": "Pesan terlalu panjang. Kirim MENU untuk daftar perintah.",
        "en": "That message is too long. Send HELP for the list of commands.",
    },
    "list_header": {"id": "Sesi yang sedang buka:", "en": "Open sessions:"},
    "list_item": {
        "id": "• {code}: {product}, {price}/pcs, {units}/{moq:pcs}, tutup {ends}",
        "en": "• {code}: {product}, {price}/pc, {units}/{moq:pcs}, closes {ends}",
    },
    "list_footer": {
        "id": "Kirim INFO <kode> untuk detail, IKUT <kode> <ukuran> [jumlah] untuk ikut.",
        "en": "Send INFO <code> for details, JOIN <code> <size> [qty] to join.",
    },
    "list_none": {
        "id": "Belum ada sesi yang buka. Coba lagi nanti ya.",
        "en": "No sessions are open right now. Please check again later.",
    },
    "info_header": {
        "id": "{code}: {product}\nHarga {price}/pcs · tutup {ends}\nTerkumpul {units}/{moq:pcs} (minimum){moq_note}\nStatus: {status}",
        "en": "{code}: {product}\nPrice {price}/pc · closes {ends}\nCollected {units}/{moq:pcs} (minimum){moq_note}\nStatus: {status}",
    },
    "info_moq_reached": {"id": " ✅ minimum tercapai", "en": " ✅ minimum reached"},
    "info_lot": {
        "id": "1 grosir = {mix} ({unit_size:pcs})",
        "en": "1 lot = {mix} ({unit_size:pcs})",
    },
    "info_sizes_header": {"id": "Per ukuran (dipesan/batas, sisa):", "en": "Per size (ordered/cap, left):"},
    "info_size": {
        "id": "• {size}: {ordered}/{cap}, sisa {available}{waiting}",
        "en": "• {size}: {ordered}/{cap}, {available} left{waiting}",
    },
    "info_size_locked": {
        "id": "• {size}: {ordered}/{cap} 🔒 terkunci sampai {catch_up} lagi dipesan{waiting}",
        "en": "• {size}: {ordered}/{cap} 🔒 locked until someone orders {catch_up}{waiting}",
    },
    "info_size_full": {
        "id": "• {size}: {ordered}/{cap} 🔒 penuh{waiting}",
        "en": "• {size}: {ordered}/{cap} 🔒 full{waiting}",
    },
    "info_size_uncapped": {"id": "• {size}: {ordered} dipesan", "en": "• {size}: {ordered} ordered"},
    "info_waiting": {"id": ", {units} antre", "en": ", {units} waiting"},
    "info_footer": {
        "id": "Ikut: IKUT {code} <ukuran> [jumlah]",
        "en": "Join: JOIN {code} <size> [qty]",
    },
    "catch_up_item": {"id": "{units:pcs} {size}", "en": "{units} more {size}"},
    "catch_up_and": {"id": " dan ", "en": " and "},
    "session_status_forming": {"id": "mengumpulkan", "en": "collecting"},
    "session_status_moq_reached": {"id": "minimum tercapai", "en": "minimum reached"},
    "session_status_pending_stock": {"id": "menunggu stok pabrik", "en": "waiting for factory stock"},
    "session_status_stock_received": {"id": "stok diterima", "en": "stock received"},
    "session_status_orders_created": {"id": "pesanan dibuat", "en": "orders created"},
    "session_status_failed": {"id": "gagal (minimum tidak tercapai)", "en": "failed (minimum not reached)"},
    "session_status_cancelled": {"id": "dibatalkan", "en": "cancelled"},
    "joined": {
        "id": (
            "✅ Tercatat: {quantity:pcs} {product} ukuran {size} di sesi {code}, total {total} "
            "(dibayar setelah pesanan dibuat).\nTerkumpul {units}/{moq:pcs}.{moq_note}\n"
            "Keluar: BATAL {code}"
        ),
        "en": (
            "✅ Done: {quantity:pcs} of {product} size {size} in session {code}, total {total} "
            "(paid once your order is created).\nCollected {units}/{moq:pcs}.{moq_note}\n"
            "To leave: LEAVE {code}"
        ),
    },
    "joined_moq_now": {
        "id": " 🎉 Minimum tercapai! Pesanan diproses setelah sesi tutup {ends}.",
        "en": " 🎉 Minimum reached! Orders are processed when the session closes {ends}.",
    },
    "joined_moq_already": {
        "id": " Minimum sudah tercapai; pesanan diproses setelah sesi tutup {ends}.",
        "en": " Minimum already reached; orders are processed when the session closes {ends}.",
    },
    "waiting": {
        "id": (
            "⏳ Ukuran {size} di sesi {code} sedang terkunci, jadi permintaan {quantity:pcs} Anda masuk "
            "antrean (urutan ke-{position}). BELUM terkonfirmasi dan belum ada yang perlu dibayar.\n"
            "Ukuran {size} terbuka lagi setelah {catch_up} lagi dipesan. Kami kabari lewat WhatsApp begitu "
            "terkonfirmasi; paling lambat diputuskan saat sesi tutup, {ends}.\nBatalkan antrean: BATAL {code}"
        ),
        "en": (
            "⏳ Size {size} in session {code} is locked, so your request for {quantity:pcs} is waiting "
            "(number {position} in line). It is NOT confirmed yet and nothing is owed.\n"
            "Size {size} opens again once someone orders {catch_up}. We will tell you on WhatsApp once it is "
            "confirmed; at the latest it is settled when the session closes, {ends}.\nTo withdraw: LEAVE {code}"
        ),
    },
    "waiting_by_choice": {
        "id": (
            "⏳ Permintaan {quantity:pcs} ukuran {size} di sesi {code} masuk antrean (urutan ke-{position}); "
            "saat ini baru tersedia {available:pcs}. BELUM terkonfirmasi dan belum ada yang perlu dibayar.\n"
            "Semua {quantity:pcs} bisa masuk setelah {catch_up} lagi dipesan. Kami kabari lewat WhatsApp begitu "
            "terkonfirmasi; paling lambat diputuskan saat sesi tutup, {ends}.\nBatalkan antrean: BATAL {code}"
        ),
        "en": (
            "⏳ Your request for {quantity:pcs} of size {size} in session {code} is waiting (number {position} "
            "in line); only {available:pcs} free now. It is NOT confirmed yet and nothing is owed.\n"
            "The whole request fits once someone orders {catch_up}. We will tell you on WhatsApp once it is "
            "confirmed; at the latest it is settled when the session closes, {ends}.\nTo withdraw: LEAVE {code}"
        ),
    },
    "size_locked": {
        "id": (
            "🔒 Ukuran {size} di sesi {code} sedang terkunci supaya ukuran tetap seimbang per grosir. "
            "Terbuka lagi setelah {catch_up} lagi dipesan. Coba ukuran lain atau cek lagi nanti (INFO {code})."
        ),
        "en": (
            "🔒 Size {size} in session {code} is locked to keep sizes balanced per lot. It opens again "
            "once someone orders {catch_up}. Try another size or check again later (INFO {code})."
        ),
    },
    "size_full_for_good": {
        "id": "🔒 Ukuran {size} di sesi {code} sudah penuh untuk sesi ini. Coba ukuran lain (INFO {code}).",
        "en": "🔒 Size {size} in session {code} is full for this session. Try another size (INFO {code}).",
    },
    "too_many": {
        "id": "Maaf, ukuran {size} di sesi {code} tinggal {available:pcs}, jadi {quantity:pcs} belum bisa.\nAmbil {available:pcs} sekarang: IKUT {code} {size} {available}",
        "en": "Sorry, size {size} in session {code} has only {available:pcs} left, so {quantity:pcs} won't fit.\nTake {available:pcs} now: JOIN {code} {size} {available}",
    },
    "too_many_wait": {
        "id": "\nAtau antre untuk {quantity:pcs} sekaligus: ANTRE {code} {size} {quantity}",
        "en": "\nOr wait for all {quantity:pcs}: WAIT {code} {size} {quantity}",
    },
    "over_max_request": {
        "id": "Maaf, ukuran {size} di sesi {code} paling banyak {maximum:pcs} per permintaan (supaya ukuran seimbang per grosir).",
        "en": "Sorry, size {size} in session {code} takes at most {maximum:pcs} per request (to keep sizes balanced per lot).",
    },
    "over_max_take": {
        "id": "\nTersedia sekarang {available:pcs}: IKUT {code} {size} {available}",
        "en": "\nAvailable now: {available:pcs}. JOIN {code} {size} {available}",
    },
    "over_max_locked": {
        "id": "\nSaat ini ukuran {size} terkunci; cek INFO {code}.",
        "en": "\nSize {size} is locked right now; see INFO {code}.",
    },
    "waitlist_off": {
        "id": "Antrean tidak tersedia untuk produk di sesi {code}. Ukuran {size} tersisa {available:pcs}.",
        "en": "Waiting is not available for the product in session {code}. Size {size} has {available:pcs} left.",
    },
    "unknown_session": {
        "id": "Sesi {code} tidak ditemukan. Kirim SESI untuk melihat sesi yang buka.",
        "en": "There is no session {code}. Send LIST to see open sessions.",
    },
    "session_closed": {
        "id": "Sesi {code} sudah tutup, jadi tidak bisa diikuti lagi. Kirim SESI untuk sesi yang masih buka.",
        "en": "Session {code} is closed and can no longer be joined. Send LIST for open sessions.",
    },
    "session_not_started": {
        "id": "Sesi {code} belum dimulai. Coba lagi nanti.",
        "en": "Session {code} has not started yet. Please try again later.",
    },
    "unknown_size": {
        "id": "Ukuran {size} tidak ada di sesi {code}. Pilihan ukuran: {sizes}.",
        "en": "Size {size} is not available in session {code}. Sizes: {sizes}.",
    },
    "quantity_not_positive": {
        "id": "Jumlah harus minimal 1 pcs. Contoh: {word} {code} {size} 2",
        "en": "The quantity must be at least 1 pc. Example: {word} {code} {size} 2",
    },
    "quantity_not_number": {
        "id": "Jumlah harus berupa angka, misalnya 2. Contoh: {word} {code} {size} 2",
        "en": "The quantity must be a number, like 2. Example: {word} {code} {size} 2",
    },
    "quantity_too_large": {
        "id": "Maksimal {maximum:pcs} per permintaan. Untuk jumlah lebih besar, hubungi admin.",
        "en": "At most {maximum:pcs} per request. For larger amounts, please contact the admin.",
    },
    "missing_code": {
        "id": "Kode sesi belum ada. Contoh: {word} {example} ... Kirim SESI untuk kode sesi yang buka.",
        "en": "The session code is missing. Example: {word} {example} ... Send LIST for open session codes.",
    },
    "bad_code": {
        "id": '"{code}" bukan kode sesi yang benar (huruf dan angka, misalnya {example}).',
        "en": '"{code}" is not a valid session code (letters and digits, e.g. {example}).',
    },
    "missing_size": {
        "id": "Ukuran belum ada. Contoh: {word} {code} M 2",
        "en": "The size is missing. Example: {word} {code} M 2",
    },
    "bad_size": {
        "id": '"{size}" bukan ukuran yang benar. Kirim INFO {code} untuk pilihan ukuran.',
        "en": '"{size}" is not a valid size. Send INFO {code} for the sizes.',
    },
    "missing_quantity": {
        "id": "Jumlah belum ada. Contoh: {word} {code} {size} 2",
        "en": "The quantity is missing. Example: {word} {code} {size} 2",
    },
    "address_too_short": {
        "id": "Alamat terlalu pendek. Contoh: ALAMAT Jl. Melati No. 5, Bandung 40111",
        "en": "That address is too short. Example: ADDRESS Jl. Melati No. 5, Bandung 40111",
    },
    "address_saved": {
        "id": "📍 Alamat pengiriman disimpan: {address}",
        "en": "📍 Delivery address saved: {address}",
    },
    "address_orders_completed": {
        "id": "\nAlamat ini dipakai untuk {orders} pesanan Anda yang menunggu alamat.",
        "en": "\nIt is now on {orders} of your orders that were waiting for an address.",
    },
    "left": {
        "id": "Anda keluar dari sesi {code}: {released:pcs} dilepas{withdrawn_note}. Tidak ada yang perlu dibayar untuk itu.",
        "en": "You left session {code}: {released:pcs} released{withdrawn_note}. Nothing is owed for them.",
    },
    "left_withdrawn": {"id": ", {units:pcs} antrean ditarik", "en": ", {units:pcs} waiting withdrawn"},
    "not_in_session": {
        "id": "Anda belum ikut sesi {code}, jadi tidak ada yang dibatalkan.",
        "en": "You have not joined session {code}, so there is nothing to leave.",
    },
    "leave_closed": {
        "id": "Sesi {code} sudah tutup; keikutsertaan tidak bisa dibatalkan lagi. Hubungi admin bila perlu.",
        "en": "Session {code} is closed; joins can no longer be cancelled. Contact the admin if needed.",
    },
    "status_none": {
        "id": "Anda belum ikut sesi apa pun. Kirim SESI untuk melihat sesi yang buka.",
        "en": "You have not joined any session yet. Send LIST to see open sessions.",
    },
    "status_header": {"id": "Pesanan Anda:", "en": "Your joins:"},
    "status_line": {
        "id": "• {code} {product} {size} x{quantity} = {total}: {state} (sesi: {session_status})",
        "en": "• {code} {product} {size} x{quantity} = {total}: {state} (session: {session_status})",
    },
    "state_confirmed": {"id": "terkonfirmasi", "en": "confirmed"},
    "state_waiting": {"id": "antre ke-{position}", "en": "waiting, number {position}"},
    "state_left": {"id": "dibatalkan", "en": "left"},
    "state_withdrawn": {"id": "antrean ditarik", "en": "withdrawn"},
    "state_not_admitted": {
        "id": "tidak terkonfirmasi (tidak ada tagihan)",
        "en": "not confirmed (nothing owed)",
    },
    "state_ordered": {"id": "pesanan {order}", "en": "order {order}"},
    "factory_only": {
        "id": "Perintah {word} hanya untuk pabrik dari nomor terdaftar. Kirim MENU untuk perintah pembeli.",
        "en": "{word} is a factory command, accepted only from the factory's registered number. Send HELP for buyer commands.",
    },
    "invalid_phone": {
        "id": "Maaf, nomor pengirim tidak dikenali.",
        "en": "Sorry, the sender's number could not be read.",
    },
    "busy": {
        "id": "Maaf, sistem sedang sibuk. Pesan Anda belum diproses; coba kirim lagi sebentar lagi.",
        "en": "Sorry, the system is busy. Your message was not processed; please send it again shortly.",
    },
    "notify_moq_reached": {
        "id": "🎉 Sesi {code} ({product}) mencapai minimum pesanan! Pesanan Anda diproses setelah sesi tutup.",
        "en": "🎉 Session {code} ({product}) reached its minimum! Your order is processed when the session closes.",
    },
    "notify_admitted": {
        "id": "✅ Antrean Anda terkonfirmasi: {quantity:pcs} {product} ukuran {size} di sesi {code}, total {total}.",
        "en": "✅ Your waiting request is confirmed: {quantity:pcs} of {product} size {size} in session {code}, total {total}.",
    },
}
