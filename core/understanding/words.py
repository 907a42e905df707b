"""The words buyers and factories use, in one place: data only, read by `core.understanding.parser`.

`COMMAND_WORDS` is the one table of command words for buyers and factories. Each word carries the reply
language it implies: an Indonesian word answers in Bahasa Indonesia, an English one in English, a word both
languages use (MENU, INFO, STATUS, ORDER, CANCEL, OK) keeps the buyer's language (`None`).
Multi-word entries ("GAK JADI") are matched before single words. Everything else here is a role a word
plays inside a message: filler, question, separator, quantity, size.
"""

from __future__ import annotations

from dataclasses import dataclass

BUYER, FACTORY, ANY = "buyer", "factory", "any"


@dataclass(frozen=True)
class Word:
    name: str  # the command: menu, list, info, join, wait, leave, status, address, stop, start, yes, no,
    #            confirm, decline, ship
    language: str | None  # "id", "en", or None: keeps the buyer's language
    audience: str = ANY  # FACTORY: a factory command (from a buyer it means `for_buyers` unless a PO follows)
    weak: bool = False  # a command only with an argument (a code, size or quantity): "mau" alone is a yes
    greeting: bool = False  # a greeting: answered with the menu when nothing else is asked
    for_buyers: str | None = None  # what a factory word means from a buyer without a PO code (None: nothing)
    how_to: bool = False  # "cara ...", "how to ...": a help request whatever command it names


def _words(name: str, language: str | None, *texts: str, **flags) -> dict[str, Word]:
    return {text: Word(name, language, **flags) for text in texts}


COMMAND_WORDS: dict[str, Word] = {
    # menu, help and how-to
    **_words("menu", None, "MENU", "MENUNYA"),
    **_words("menu", "en", "HELP", "COMMANDS"),
    **_words("menu", "id", "BANTUAN", "BANTU", "PANDUAN", "PERINTAH"),
    **_words("menu", "id", "CARA", "CARANYA", "GIMANA CARANYA", "BAGAIMANA CARANYA", how_to=True),
    **_words("menu", "en", "HOW TO", "HOW DO I", how_to=True),
    # greetings: the menu, unless something else is asked in the same message
    **_words("menu", "id", "HALO", "HALLO", "HALLOO", "HAI", "HAY", "PERMISI", "PUNTEN", greeting=True),
    **_words("menu", "id", "ASSALAMUALAIKUM", "ASALAMUALAIKUM", "ASSALAMUALAIKUM WR WB", greeting=True),
    **_words("menu", "id", "SALAM", "SAMLEKOM", "SWASTIASTU", "OM SWASTIASTU", "APA KABAR", greeting=True),
    **_words("menu", "id", "PAGI", "SIANG", "SORE", "MALAM", "SELAMAT PAGI", "SELAMAT SIANG", greeting=True),
    **_words("menu", "id", "SELAMAT SORE", "SELAMAT MALAM", "MET PAGI", "MET SIANG", greeting=True),
    **_words("menu", "en", "HI", "HELLO", "HEY", "GOOD MORNING", "GOOD AFTERNOON", greeting=True),
    **_words("menu", "en", "GOOD EVENING", "MORNING", greeting=True),
    **_words("menu", None, "P", "PING", greeting=True),
    # open sessions
    **_words("list", "id", "SESI", "KATALOG", "DAFTAR", "PRODUK", "JUALAN", "ADA APA AJA", "ADA APA SAJA"),
    **_words("list", "id", "APA AJA", "APA SAJA", "LIHAT SESI", "SESI APA AJA", "SESI APA SAJA"),
    **_words("list", "en", "LIST", "SESSIONS", "CATALOG", "CATALOGUE", "PRODUCTS", "WHAT IS OPEN"),
    # one session: price, deadline, sizes
    **_words("info", None, "INFO", "DETAIL", "READY", "READY STOCK", "READY STOK"),
    **_words("info", "id", "HARGA", "HARGANYA", "STOK", "TERSEDIA", "SISA", "MASIH ADA", "ADA GAK"),
    **_words("info", "id", "ADA GA", "ADA NGGAK", "ADA ENGGAK", "KETERANGAN", "ADA STOK"),
    **_words("info", "en", "DETAILS", "PRICE", "STOCK", "AVAILABLE", "HOW MUCH"),
    # join a session
    **_words("join", "id", "IKUT", "IKUTAN", "IKUTKAN", "GABUNG", "PESAN", "PESEN", "BELI", "BELANJA"),
    **_words("join", "en", "JOIN", "BUY"),
    **_words("join", None, "ORDER", "CHECKOUT"),
    **_words("join", "id", "MAU", "AMBIL", "MINAT", "NGAMBIL", "TAMBAH", "NAMBAH", weak=True),
    **_words("join", None, "KEEP", "BOOKING", weak=True),
    **_words("join", "en", "WANT", "TAKE", "GET", weak=True),
    # wait for a locked size
    **_words("wait", "id", "ANTRE", "ANTRI", "TUNGGU", "INDEN", "NGANTRI"),
    **_words("wait", "en", "WAIT", "WAITLIST", "QUEUE"),
    # leave a session
    **_words("leave", "id", "BATAL", "BATALKAN", "BATALIN", "KELUAR", "MUNDUR", "HAPUS"),
    **_words("leave", "id", "GAK JADI", "GA JADI", "GK JADI", "GAJADI", "NGGAK JADI", "ENGGAK JADI"),
    **_words("leave", "id", "NGGA JADI", "TIDAK JADI", "TDK JADI", "NDAK JADI", "ORA SIDO"),
    **_words("leave", "en", "LEAVE", "UNJOIN", "QUIT", "WITHDRAW"),
    **_words("leave", None, "CANCEL"),
    # my joins
    **_words("status", None, "STATUS", "STATUSNYA"),
    **_words("status", "id", "CEK", "CEK PESANAN", "PESANAN SAYA", "PESANANKU", "PESANAN", "ORDERAN"),
    **_words("status", "id", "ORDERAN SAYA", "ORDER SAYA", "LACAK", "RESI", "RESINYA"),
    **_words("status", "en", "CHECK", "MY ORDERS", "MY ORDER", "ORDERS", "TRACK", "TRACKING"),
    # delivery address (a buyer's "kirim ke ..." is an address, never the factory's KIRIM)
    **_words("address", "id", "ALAMAT", "ALAMATNYA", "ALAMAT SAYA", "ALAMATKU", "ALAMAT PENGIRIMAN"),
    **_words("address", "id", "KIRIM KE", "DIKIRIM KE", "KIRIMKAN KE", "ANTAR KE", "TOLONG KIRIM KE"),
    **_words("address", "en", "ADDRESS", "MY ADDRESS", "SHIP TO", "SEND TO", "DELIVER TO"),
    # reminders and share prompts off / on again
    **_words("stop", "id", "BERHENTI", "JANGAN KIRIM LAGI", "JANGAN SPAM", "STOP KIRIM", "STOP PROMO"),
    **_words("stop", "id", "JANGAN KIRIM PESAN LAGI", "JANGAN DIKIRIM LAGI", "JANGAN KIRIMI LAGI"),
    **_words("stop", "en", "STOP", "UNSUBSCRIBE", "OPT OUT", "OPTOUT"),
    **_words("start", "id", "MULAI", "MULAI LAGI", "AKTIFKAN", "NYALAKAN"),
    **_words("start", "en", "START", "SUBSCRIBE", "OPT IN", "RESUME"),
    # answers in a guided flow (and to "did you mean ...?")
    **_words("yes", "id", "YA", "IYA", "IYAH", "IYO", "YOI", "BETUL", "BENAR", "BENER", "BOLEH"),
    **_words("yes", "id", "SIP", "SETUJU", "LANJUT", "GAS", "JADI", "OKE", "OKEY", "OKS"),
    **_words("yes", "en", "YES", "YEP", "YUP", "YEAH", "SURE", "OKAY", "CORRECT"),
    **_words("yes", None, "OK", "Y", "DEAL"),
    **_words("no", "id", "TIDAK", "TDK", "GAK", "GA", "GK", "NGGAK", "NGGA", "ENGGAK", "ENGGA", "NDAK"),
    **_words("no", "id", "BUKAN", "SALAH", "JANGAN", "GAK MAU", "GA MAU", "TIDAK MAU", "NGGAK MAU"),
    **_words("no", "en", "NO", "NOPE", "NAH"),
    # factory replies to a purchase order; from a buyer without a PO code they are a plain yes / no
    **_words("confirm", "id", "SIAP", "KONFIRMASI", audience=FACTORY, for_buyers="yes"),
    **_words("confirm", "en", "CONFIRM", "CONFIRMED", audience=FACTORY, for_buyers="yes"),
    **_words("decline", "id", "TOLAK", audience=FACTORY, for_buyers="no"),
    **_words("decline", "en", "DECLINE", "REJECT", audience=FACTORY, for_buyers="no"),
    **_words("ship", "id", "KIRIM", "DIKIRIM", "TERKIRIM", audience=FACTORY),
    **_words("ship", "en", "SHIPPED", "SHIP", "SENT", audience=FACTORY),
}
PHRASE_LENGTH = max(len(text.split()) for text in COMMAND_WORDS)

# The word replies name for each command ("Balas YA", "SIAP PO-KAOS1-1"), Indonesian then English.
_REPLY = (
    "menu MENU HELP, list SESI LIST, info INFO INFO, join IKUT JOIN, wait ANTRE WAIT, leave BATAL LEAVE, "
    "status STATUS STATUS, address ALAMAT ADDRESS, stop BERHENTI STOP, start MULAI START, yes YA YES, "
    "no TIDAK NO, confirm SIAP CONFIRM, decline TOLAK DECLINE, ship KIRIM SHIPPED"
)
REPLY_WORDS: dict[tuple[str, str], str] = {
    (name, language): word
    for name, indonesian, english in (entry.split() for entry in _REPLY.split(", "))
    for language, word in (("id", indonesian), ("en", english))
}


def word_for(name: str, language: str | None) -> str:
    """The word to show for a command in a reply, in the reply's language (Indonesian by default)."""
    return REPLY_WORDS[(name, "en" if language == "en" else "id")]


# Words that shape a message without being a command. Language None: used in both.
def _keys(language: str | None, text: str) -> dict[str, str | None]:
    return dict.fromkeys(text.split(), language)


FILLERS: dict[str, str | None] = {
    **_keys(
        "id",
        "KAK KA KAKAK KK KAKA MIN MIMIN ADMIN GAN AGAN SIS SIST SISTA BRO BANG MAS MBAK MBA BU IBU PAK BAPAK "
        "OM TANTE TEH CIK CI KO KOH BOS BOSKU JURAGAN SAY BESTIE YA YAH YAK YO DONG DONK DOANG DEH SIH NIH NI "
        "TUH AJA AJAH SAJA DULU DL JUGA LAGI TOLONG MOHON SAYA AKU GUE GUA GW SY AK KU KAMI INGIN PENGEN PINGIN "
        "PENGIN PGN MO UNTUK UTK BUAT YANG YG DENGAN DGN SEKARANG SKRG SEGERA LANGSUNG KODE KODENYA NOMOR "
        "BARANG BARANGNYA ITU INI DI KE DARI GITU KALAU KALO KLO HEHE HEHEHE HIHI WKWK WKWKWK HAHA YUK AYO "
        "SEMOGA JADINYA SESINYA SESI DONGS SEKALIAN TAMBAHAN BISMILLAH PAKAI PAKE HARUS NGE ATAS NAMA "
        "WARNANYA SAMPAI SAMPE",
    ),
    **_keys(
        "en",
        "I IM ID ME MY TO A AN THE PLEASE PLS PLZ WANNA WOULD LIKE SOME FOR OF IN JUST ALSO SIR MADAM MAAM "
        "THIS THAT NOW ILL LL D SESSION CODE ONES KINDLY",
    ),
}
# A message made only of these (and fillers) is chit-chat: it never changes anything.
CHAT: dict[str, str | None] = {
    **_keys(
        "id",
        "MAKASIH MAKASI MAKASIIH MKSH MKS TERIMAKASIH TRIMS TRIMAKASIH TQ TENGKYU NUHUN SUWUN MATURNUWUN "
        "MANTAP MANTUL KEREN BAGUS CAKEP MAAF SORI OALAH OH OHH SUDAH UDAH UDH BELUM BLM TRANSFER TF BAYAR "
        "REKENING COD ONGKIR DISKON MURAH MAHAL KASIH TERIMA",
    ),
    **_keys("en", "THANKS THANK THX TY GOOD NICE GREAT COOL SORRY PAID PAYMENT"),
}
# Thanks among them, answered with a "you're welcome" rather than help.
THANKS = frozenset(
    "MAKASIH MAKASI MAKASIIH MKSH MKS TERIMAKASIH TRIMS TRIMAKASIH TQ TENGKYU NUHUN SUWUN MATURNUWUN TERIMA "
    "THANKS THANK THX TY".split()
)
# A question about something is answered, never acted on: a join asked as a question is only proposed.
QUESTIONS: dict[str, str | None] = {
    **_keys(
        "id",
        "APA APAKAH APAAN KAPAN KPN BERAPA BRP GIMANA GMN BAGAIMANA KENAPA KNP MENGAPA DIMANA DMN KEMANA "
        "SIAPA BISA BISAKAH BOLEHKAH TANYA NANYA EMANG KOK",
    ),
    **_keys("en", "WHAT WHEN HOW WHY WHERE WHO WHICH CAN COULD IS ARE DO DOES WILL"),
}
# Other words that tell the language of a message whose command word is shared ("order ... and ...").
LANGUAGE_HINTS: dict[str, str | None] = {
    **_keys("id", "DAN SAMA MASING-MASING MASING2 BIJI BUAH POTONG LUSIN UKURAN UK JUMLAH"),
    **_keys("en", "AND EACH PIECE PIECES DOZEN SIZE QTY QUANTITY"),
}
# Between the lines of a several-sizes join ("M 2, L 1", "m 2 dan l 1").
SEPARATORS = frozenset(
    {",", ";", "&", "+", "DAN", "AND", "N", "SAMA", "AMA", "PLUS", "TRUS", "TERUS", "SERTA"}
)
# "M, L masing-masing 2": the quantity is for each size named.
EACH = frozenset({"MASING-MASING", "MASING2", "MASING", "MSG2", "@", "EACH", "SEMUANYA"})
SIZE_MARKERS = frozenset({"UKURAN", "UKURANNYA", "UK", "UKR", "SIZE", "SIZENYA", "SZ", "SAIZ"})
QUANTITY_MARKERS = frozenset(
    {"JUMLAH", "JUMLAHNYA", "JML", "QTY", "SEBANYAK", "SEJUMLAH", "QUANTITY", "X", "×"}
)
CHOICE_MARKERS = frozenset({"NO", "NOMOR", "NOMER", "NO.", "PILIH", "PILIHAN", "OPSI", "OPTION", "#"})
# Units after a number: how many pieces one of them is.
UNITS: dict[str, int] = {
    **dict.fromkeys(
        "PCS PC PSC PIECE PIECES BIJI BJ BUAH BH POTONG PTG HELAI LEMBAR LBR PASANG PSG ITEM ITEMS UNIT UNITS X "
        "PCSNYA BIJINYA".split(),
        1,
    ),
    "LUSIN": 12,
    "DOZEN": 12,
    "KODI": 20,
}
# Number words: "dua", "sepuluh", "dua belas", "selusin" (a dozen), "twenty".
DIGIT_WORDS: dict[str, int] = {
    "SATU": 1,
    "DUA": 2,
    "TIGA": 3,
    "EMPAT": 4,
    "LIMA": 5,
    "ENAM": 6,
    "TUJUH": 7,
    "DELAPAN": 8,
    "SEMBILAN": 9,
}
NUMBER_WORDS: dict[str, int] = {
    "SEPULUH": 10,
    "SEBELAS": 11,
    "SERATUS": 100,
    "SELUSIN": 12,
    "SEKODI": 20,
    **dict(
        zip(
            "ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN ELEVEN TWELVE THIRTEEN FOURTEEN FIFTEEN "
            "SIXTEEN SEVENTEEN EIGHTEEN NINETEEN TWENTY".split(),
            range(1, 21),
            strict=True,
        )
    ),
    **{word: 10 * tens for word, tens in zip(("THIRTY", "FORTY", "FIFTY"), (3, 4, 5), strict=True)},
}
# Sizes every shop uses; a session's own sizes come from the vocabulary. Size words map to the usual name.
STANDARD_SIZES = frozenset("XXS XS S M L XL XXL XXXL XXXXL 2XL 3XL 4XL 5XL ALLSIZE FREESIZE".split())
WORD_SIZES: dict[str, str] = {
    "SMALL": "S",
    "MEDIUM": "M",
    "LARGE": "L",
    "XLARGE": "XL",
    "X-LARGE": "XL",
    "EXTRA LARGE": "XL",
    "ALL SIZE": "ALLSIZE",
    "ALL-SIZE": "ALLSIZE",
    "FREE SIZE": "FREESIZE",
    "FS": "FREESIZE",
}
# The same size written two ways; used to match a session's own name for it.
SIZE_EQUIVALENTS: dict[str, str] = {
    "XXL": "2XL",
    "XXXL": "3XL",
    "XXXXL": "4XL",
    "2XL": "XXL",
    "3XL": "XXXL",
    "4XL": "XXXXL",
}
# Words found in addresses; an address without any of them (or a number) is asked for again.
ADDRESS_WORDS = frozenset(
    "JL JLN JALAN GG GANG RT RW NO BLOK BLOCK PERUM PERUMAHAN KOMPLEK KOMPLEKS KOMP KEL KELURAHAN KEC "
    "KECAMATAN KAB KABUPATEN KOTA DESA DUSUN KAMPUNG KP APARTEMEN APT TOWER LANTAI RUKO STREET ST ROAD RD "
    "AVENUE PROVINSI PROV".split()
)
# Words around an address that are not part of it: "alamat saya di ...", "... ya kak, makasih".
ADDRESS_LEAD = frozenset("SAYA AKU KU DI KE YAITU ADALAH IS MY KAK MIN YA NYA".split())
ADDRESS_TAIL = frozenset(
    "YA YAH KAK KA MIN GAN SIS DONG DEH NIH PLEASE PLS THANKS THX MAKASIH TQ TERIMAKASIH KASIH TERIMA TRIMS "
    "OK OKE SIP".split()
)
# Emoji that mean yes on their own.
YES_EMOJI = frozenset("👍👌✅🆗")
