"""The dashboard in a real browser: Playwright driving Debian's Chromium (`apt-get install chromium`).

The app serves on a real loopback port (the `server` fixture); buyers join through the signed webhook
from this test, exactly as Twilio would post them; the operator does everything else in the browser.
No browser is downloaded: Playwright starts the system binary (`LAKU_CHROMIUM`, default
/usr/bin/chromium) with a new, empty profile. Without it these tests fail (CI installs it, see .ci/run),
unless `LAKU_ALLOW_NO_BROWSER=1` lets them skip on a developer machine.

With `LAKU_SCREENSHOTS=<folder>` the main pages are saved there as PNG (`make screenshots` writes
docs/screenshots/).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

from bot.cli import send_chat_message
from core.clock import WIB, now
from core.db import transaction
from tests.builders import OPERATOR_PASSWORD, TSHIRT_MIX, factory, make_session, participants
from tests.chat import AUTH_TOKEN

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LAKU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP = {"width": 1100, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def chromium(tmp_path_factory) -> Iterator[BrowserContext]:
    """One Chromium for the module, on a new empty profile."""
    if not os.path.exists(CHROMIUM):
        message = f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set LAKU_CHROMIUM)"
        if os.environ.get("LAKU_ALLOW_NO_BROWSER") and not os.environ.get("CI"):
            pytest.skip(message)
        pytest.fail(message)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=LAPTOP,
            locale="id-ID",
            timezone_id="Asia/Jakarta",
        )
        context.set_default_timeout(5_000)
        yield context
        context.close()


@pytest.fixture
def page(chromium) -> Iterator[Page]:
    chromium.clear_cookies()
    tab = chromium.new_page()
    yield tab
    tab.close()


SCREENSHOTS = os.environ.get("LAKU_SCREENSHOTS")


def shoot(page: Page, name: str) -> None:
    """A screenshot of the whole page for the docs, when asked for (`make screenshots`)."""
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def log_in(page: Page, server: str, username: str) -> None:
    page.goto(f"{server}/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("Nama pengguna").fill(username)
    page.get_by_label("Kata sandi").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Masuk").click()
    expect(page.get_by_role("heading", name="Sesi grosir")).to_be_visible()


def join(server: str, phone: str, text: str) -> str:
    """A buyer's WhatsApp message through the real, signed webhook."""
    status, reply = send_chat_message(server, phone, "Pembeli", text, AUTH_TOKEN, None)
    assert status == 200, reply
    return reply


def nav(page: Page, name: str):
    return page.get_by_role("navigation").get_by_role("link", name=name, exact=True)


def size_line(page: Page, size: str):
    return page.locator(".size-bar", has=page.locator(".size-name", has_text=re.compile(f"^{size}$")))


def test_an_operator_creates_a_product_with_its_lot_mix_and_opens_a_session(
    page, server, operator, db_factory
):
    with transaction(db_factory) as db:
        factory(db, name="Konveksi Maju Bandung")
    log_in(page, server, operator)

    # a product whose sizes do not add up to the lot: the form says so as you type, and will not submit
    nav(page, "Katalog").click()
    page.get_by_role("link", name="Produk baru").click()
    page.get_by_label("Pabrik", exact=True).select_option(label="Konveksi Maju Bandung")
    page.get_by_label("Nama produk").fill("Kaos Uji Coba")
    page.get_by_label("SKU", exact=True).fill("UJI")
    page.get_by_label("Harga per pcs (Rp)").fill("45000")
    page.get_by_label("Isi satu lot (pcs)").fill("12")
    for row, (size, units) in enumerate([("S", "2"), ("M", "5"), ("L", "4"), ("XL", "2")]):
        page.locator(f"#variants-{row}-size").fill(size)
        page.locator(f"#variants-{row}-units_per_lot").fill(units)
    total = page.locator("#lot-sum")
    expect(total).to_have_text(re.compile("13 pcs.*12 pcs"))
    expect(total).to_have_class(re.compile("bad"))
    page.get_by_role("button", name="Simpan").click()
    expect(page.get_by_label("Isi satu lot (pcs)")).to_be_focused()
    expect(page.get_by_label("Isi satu lot (pcs)")).to_have_attribute("aria-invalid", "true")
    shoot(page, "product-form")
    page.locator("#variants-3-units_per_lot").fill("1")
    expect(total).to_have_class(re.compile("ok"))
    page.get_by_role("button", name="Simpan").click()

    # the new session form comes next, with the product chosen
    expect(page.get_by_role("heading", name="Sesi baru")).to_be_visible()
    expect(page.get_by_label("Produk", exact=True)).to_have_value(re.compile(r"\d+"))
    page.get_by_label("Minimum (pcs)").fill("12")
    page.get_by_label("Ditutup pada (WIB)").fill(
        (now() + timedelta(hours=5)).astimezone(WIB).strftime("%Y-%m-%dT%H:%M")
    )
    page.get_by_label("Kode sesi").fill("UJI1")
    page.get_by_role("button", name="Buka sesi").click()
    expect(page.get_by_role("heading", name=re.compile("UJI1"))).to_be_visible()
    expect(size_line(page, "M")).to_contain_text("M: 0 dari batas 10")
    expect(page.locator(".countdown")).to_have_text(re.compile(r"sisa 4 jam"))


def test_an_operator_watches_joins_closes_receives_and_sees_the_orders(page, server, operator, db_factory):
    make_session(db_factory, TSHIRT_MIX, code="UJI1", target_moq=12, waitlist=True, sku="UJI", price=45_000)
    log_in(page, server, operator)
    page.get_by_role("link", name="UJI1").click()
    expect(size_line(page, "M")).to_contain_text("M: 0 dari batas 10")

    # buyers join on WhatsApp; the bars follow
    join(server, "+6281300000001", "IKUT UJI1 M 5")
    join(server, "+6281300000002", "IKUT UJI1 L 4")
    join(server, "+6281300000003", "IKUT UJI1 S 2")
    page.reload()
    expect(size_line(page, "M")).to_contain_text("M: 5 dari batas 10")
    join(server, "+6281300000004", "IKUT UJI1 M 5")  # M reaches its cap: locked until XL has orders
    join(server, "+6281300000005", "IKUT UJI1 M 2")  # waits in line
    page.reload()
    expect(size_line(page, "M")).to_contain_text("M: 10 dari batas 10")
    expect(size_line(page, "M")).to_contain_text("2 antre")
    expect(size_line(page, "M")).to_contain_text("terkunci")
    expect(size_line(page, "XL")).to_contain_text("XL: 0 dari batas 2")
    expect(page.get_by_text("16 dari minimum 12 pcs")).to_be_visible()
    expect(page.locator("#waiting-title")).to_contain_text("1")
    shoot(page, "session")
    nav(page, "Sesi").click()
    shoot(page, "sessions")
    page.set_viewport_size(PHONE)
    shoot(page, "sessions-phone")
    page.set_viewport_size(LAPTOP)

    # close now, after a confirmation step: the factory gets a purchase order for one lot
    page.get_by_role("link", name="UJI1").click()
    page.get_by_role("link", name="Tutup sekarang").click()
    expect(page.get_by_role("heading", name="Tutup sesi UJI1 sekarang?")).to_be_visible()
    page.get_by_role("button", name="Ya, tutup sekarang").click()
    expect(page.get_by_role("status")).to_contain_text("pesanan PO-UJI1-1 dikirim ke pabrik")
    expect(page.locator("h1 .status")).to_have_text("Menunggu stok")

    # the goods arrive: receive the purchase order on the stock page; one order per buyer
    nav(page, "Stok & pabrik").click()
    expect(page.locator("#po-PO-UJI1-1")).to_contain_text("Diminta")
    shoot(page, "stock")
    page.locator("#po-PO-UJI1-1").get_by_role("button", name="Terima barang").click()
    expect(page.get_by_role("status")).to_contain_text("4 pesanan pembeli dibuat untuk sesi UJI1")
    page.get_by_role("link", name="UJI1").click()
    expect(page.locator("h1 .status")).to_have_text("Pesanan dibuat")
    expect(page.locator("#orders-title")).to_contain_text("4")
    expect(
        page.get_by_role("row", name=re.compile(r"^UJI1-\d+ .*\+6281300000001 M 5 Rp 225\.000"))
    ).to_be_visible()
    nav(page, "Pesan").click()
    shoot(page, "messages")

    assert [row[1:] for row in participants(db_factory, "UJI1")] == [
        ("M", 5, "confirmed"),
        ("L", 4, "confirmed"),
        ("S", 2, "confirmed"),
        ("M", 5, "confirmed"),
        ("M", 2, "not_admitted"),
    ]


def test_english_and_a_phone_width(page, server, operator):
    log_in(page, server, operator)
    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("heading", name="Grosir sessions")).to_be_visible()
    page.set_viewport_size(PHONE)
    nav(page, "Catalog").click()
    expect(page.get_by_role("link", name="New product")).to_be_visible()
    page.keyboard.press("Tab")  # the skip link comes first, and shows when focused
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
