"""The portal in a real browser (Debian's Chromium through Playwright), against the parties' real apps."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sekisho.node.registers import open_register

from .conftest import CHIYODA, GIFU, PASSPHRASE, PASSWORD, Net, cli, shot

AXE = Path(__file__).parent / "vendor" / "axe.min.js"


def login_clerk(page: Any, url: str, login: str) -> None:
    page.goto(f"{url}/clerk/login")
    page.get_by_label("ログインID").fill(login)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def open_record(page: Any, query: str) -> None:
    page.get_by_role("textbox", name="検索").fill(query)
    page.get_by_role("button", name="検索", exact=True).click()
    page.locator("table button").first.click()


def agency_access(net: Net, handle: str) -> None:
    """The pension agency's identity confirmation, as the register records a release: the access record is
    written in the release's transaction and its entry appended to the public log."""
    from sekisho.registry import store as st
    from sekisho.registry.service import Actor

    register = open_register(net.home, GIFU, actor=Actor(clerk="network"))
    try:
        with register.transaction() as conn:
            rid = conn.execute(sa.select(st.resident.c.id).where(st.resident.c.handle == handle)).scalar_one()
            register.record_release(
                conn,
                [rid],
                action="identity-confirmation",
                purpose="pension.benefit",
                items=("name", "birth_date", "address"),
                requester="pension",
                legal_basis="pension.benefit",
            )
    finally:
        register.engine.dispose()


def checkpoint(net: Net) -> None:
    """The log signs a checkpoint and the watchdog's witness cosigns it (what `sekisho log checkpoint` does)."""
    from sekisho.auditlog.service import LogService
    from sekisho.auditlog.witness import Witness

    log = LogService.open(net.home, secret=PASSPHRASE.encode())
    witness = Witness.open(net.home, secret=PASSPHRASE.encode())
    try:
        log.issue_checkpoint()
        log.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
        log.close()


def test_a_resident_finds_an_agency_access_verified(net: Net, page: Any) -> None:
    # at the counter: the clerk finds the resident and hands over a one-time code
    login_clerk(page, net.gifu.url, "clerk-gifu")
    open_record(page, "高橋")  # finds 髙橋 (variant kanji)
    page.get_by_role("button", name=re.compile("ワンタイムコード")).click()
    code = page.locator(".code").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    shot(page, "clerk-record")
    page.get_by_role("button", name=re.compile("ログアウト")).click()

    agency_access(net, net.resident)  # seconds before the resident looks
    checkpoint(net)

    page.goto(f"{net.gifu.url}/resident/login")
    page.get_by_label("ワンタイムコード").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="ログイン").click()
    assert page.get_by_role("heading", name="わたしの住民票").is_visible()
    row = page.locator("table.accesses tbody tr", has_text="pension.benefit")
    assert row.count() == 1
    text = row.inner_text()
    assert "行政機関 pension" in text and "identity-confirmation" in text and "name" in text
    assert "✓" in row.locator("td").last.inner_text()
    assert "検証済み" in page.locator(".verified-note").inner_text()
    shot(page, "resident-home")

    # the resident's own choices: 本人通知, and no use that rests only on consent
    page.get_by_role("button", name="本人通知に登録する").click()
    assert page.locator("#notices-state").inner_text() == "登録しています"
    page.get_by_role("button", name="同意に基づく利用を拒否する").click()
    assert page.locator("#opt-out-state").inner_text() == "拒否しています"
    from sekisho.policy.municipality import MunicipalityPolicy

    mp = MunicipalityPolicy.open(net.home, GIFU)
    try:
        assert mp.registered_for_notices(net.resident)
        assert mp.facts(net.resident).opted_out_of_consent_uses
    finally:
        mp.engine.dispose()

    # a wallet credential: the offer the page shows is redeemed by the wallet at the node's OpenID4VCI endpoints
    page.get_by_role("button", name="ウォレットで受け取る").click()
    offer = page.get_by_label("オファー（JSON）").input_value()
    assert "pre-authorized_code" in offer
    assert page.get_by_label("オファーURI").input_value().startswith("openid-credential-offer://?credential_offer=")
    shot(page, "resident-wallet-offer")
    wallet = net.home.root / "wallet"
    cli(net.home, "wallet", "init", "--wallet", str(wallet))
    (net.home.root / "offer.json").write_text(offer)
    received = cli(net.home, "wallet", "receive", str(net.home.root / "offer.json"), "--wallet", str(wallet))
    assert re.search(r"received \d+ one-time credentials", received)
    page.goto(f"{net.gifu.url}/resident")

    # the code was spent: a second login with it fails
    page.context.clear_cookies()
    page.goto(f"{net.gifu.url}/resident/login")
    page.get_by_label("ワンタイムコード").fill(code)
    page.get_by_role("button", name="ログイン").click()
    assert "使用済み" in page.get_by_role("alert").inner_text()


def test_a_clerk_registers_a_move_in_with_wareki_and_furigana(net: Net, page: Any) -> None:
    login_clerk(page, net.gifu.url, "clerk-gifu")
    page.get_by_role("link", name="転入").click()
    typed = {
        "氏": "渡邉",
        "名": "美咲",
        "氏（フリガナ）": "わたなべ",
        "名（フリガナ）": "みさき",
        "生年月日": "平成31年5月1日",  # 平成 ended on 4月30日
        "町名・大字": "青柳町",
        "番地・丁目": "3丁目5番12号",
        "異動日": "令和7年4月1日",
    }
    for label, value in typed.items():
        page.get_by_role("textbox", name=label, exact=True).fill(value)
    page.get_by_label("女").check()
    page.get_by_role("button", name="登録する").click()

    # the message names the field and the rule, in Japanese; everything typed is still there
    alert = page.get_by_role("alert")
    assert "生年月日" in alert.inner_text() and "平成は平成31年4月30日" in alert.inner_text()
    for label, value in typed.items():
        assert page.get_by_role("textbox", name=label, exact=True).input_value() == value
    assert page.get_by_label("女").is_checked()
    assert page.get_by_role("textbox", name="生年月日", exact=True).get_attribute("aria-invalid") == "true"
    shot(page, "clerk-move-in-error")

    page.get_by_role("textbox", name="生年月日", exact=True).fill("平成31年4月30日")
    page.get_by_role("button", name="登録する").click()
    assert "受け付けました" in page.get_by_role("heading").first.inner_text()
    assert "ワタナベ\u3000ミサキ" in page.locator("dl").inner_text()  # the furigana, in katakana

    page.goto(f"{net.gifu.url}/clerk")
    page.get_by_role("textbox", name="検索").fill("渡辺")  # the common form finds 渡邉
    page.get_by_role("button", name="検索", exact=True).click()
    results = page.locator("table tbody").inner_text()
    assert "渡邉\u3000美咲" in results and "平成31年4月30日" in results
    shot(page, "clerk-search")


def test_the_watchdog_approves_a_warrant_and_sees_the_conversion_counted(net: Net, page: Any) -> None:
    from sekisho.policy.service import Watchdog
    from sekisho.protocols.access import AccessRequest

    page.goto(f"{net.watchdog.url}/login")
    page.get_by_label("ログインID").fill("officer-1")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    row = page.locator(f"tr[data-warrant='{net.warrant}']")
    assert "requested" in row.inner_text()
    row.get_by_role("button", name=re.compile("^承認")).click()
    row = page.locator(f"tr[data-warrant='{net.warrant}']")
    assert "approved" in row.inner_text()
    assert row.locator("td.used").inner_text() == "0"

    # a cross-reference under the warrant, decided by the watchdog's decision point (as T1 and T2 ask it)
    watchdog = Watchdog.open(net.home)
    try:
        token = watchdog.warrant(net.warrant)["token"]
        decision = watchdog.decision_point().decide(
            AccessRequest(
                requester="tax",
                requester_kind="agency",
                action="cross-reference",
                purpose="tax.criminal-investigation",
                items=frozenset(),
                at=datetime.now(UTC),
                terminal="desk-1",
                warrant=token,
                to_domain="pension",
            )
        )
    finally:
        watchdog.engine.dispose()
    assert decision.allow, decision.reasons
    page.reload()
    assert page.locator(f"tr[data-warrant='{net.warrant}'] td.used").inner_text() == "1"
    assert "tax" in page.locator("svg[aria-labelledby='wc-t'] title").text_content()
    # an officer sees no personal data: no resident's name or handle anywhere on the dashboard
    html = page.content()
    assert net.resident not in html and net.protected not in html and "髙橋" not in html and "佐藤" not in html
    shot(page, "watchdog-dashboard")


def test_a_protected_resident_is_not_shown_to_a_clerk_of_another_municipality(net: Net, page: Any) -> None:
    # the clerk of 岐阜市 has no account at 千代田区's portal
    login_clerk(page, net.chiyoda.url, "clerk-gifu")
    assert "ログインIDまたはパスワードが違います" in page.get_by_role("alert").inner_text()
    # and 岐阜市's console searches 岐阜市's register only
    login_clerk(page, net.gifu.url, "clerk-gifu")
    page.get_by_role("textbox", name="検索").fill("サトウ ハナコ")
    page.get_by_role("button", name="検索", exact=True).click()
    assert "該当する住民はいません" in page.content()
    assert net.protected not in page.content()


def test_posts_without_the_csrf_token_or_from_another_origin_are_refused(net: Net, page: Any) -> None:
    login_clerk(page, net.gifu.url, "clerk-gifu")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    search = f"{net.gifu.url}/clerk/search"
    # the session cookie goes with these requests (same browser context): only the token is missing or wrong
    assert page.request.post(search, form={"q": "高橋"}).status == 403
    assert page.request.post(search, form={"q": "高橋", "csrf": "x" * 43}).status == 403
    ok = page.request.post(
        search, form={"q": "高橋", "csrf": token}, headers={"origin": f"http://localhost:{net.gifu.port}"}
    )
    assert ok.status == 200
    evil = page.request.post(search, form={"q": "高橋", "csrf": token}, headers={"origin": "http://evil.example"})
    assert evil.status == 403
    # a form on another site posting to the portal: refused (and the SameSite cookie is not even sent)
    page.goto(f"http://127.0.0.1:{net.chiyoda.port}/health")
    page.set_content(
        f'<form method="post" action="{search}"><input name="q" value="高橋"><input name="csrf" value="{token}">'
        "<button>go</button></form>"
    )
    with page.expect_navigation():
        page.click("button")
    assert "高橋" not in page.locator("body").inner_text() or "健一" not in page.content()
    assert "検索結果" not in page.content()


@pytest.mark.parametrize("path", ["/clerk/proc/move_in", "/clerk/certificate"])
def test_keyboard_alone_reaches_every_form_control(net: Net, page: Any, path: str) -> None:
    login_clerk(page, net.gifu.url, "clerk-gifu")
    page.goto(f"{net.gifu.url}{path}")
    key = "e => (e.type === 'radio' ? 'radio:' : '') + (e.id || e.name + '=' + (e.value || e.textContent))"
    controls = page.eval_on_selector_all(
        "main form input:not([type=hidden]), main form button, main form select, main form textarea",
        f"els => els.map({key})",
    )
    reached: list[str] = []
    for _ in range(len(controls) + 12):
        page.keyboard.press("Tab")
        reached.append(page.evaluate(f"() => ({key})(document.activeElement)"))
    missing = [c for c in controls if c not in reached]
    # a group of radio buttons is one tab stop (arrow keys move between them): only radios may be missing, and
    # one of each group was reached
    assert all(c.startswith("radio:") for c in missing), missing
    groups = {c.split("=")[0] for c in controls if c.startswith("radio:")}
    assert all(any(r.startswith(g + "=") or r == g for r in reached) for g in groups) or not groups, reached
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.tagName") in ("INPUT", "BUTTON", "A", "SELECT", "TEXTAREA")


PAGES = [
    ("landing", "gifu", "/", None),
    ("clerk-login", "gifu", "/clerk/login", None),
    ("clerk-console", "gifu", "/clerk", "clerk"),
    ("clerk-move-in", "gifu", "/clerk/proc/move_in", "clerk"),
    ("clerk-certificate", "gifu", "/clerk/certificate", "clerk"),
    ("resident-card-login", "gifu", "/resident/card", None),
    ("resident-home", "gifu", "/resident", "resident"),
    ("watchdog-login", "watchdog", "/login", None),
    ("watchdog-dashboard", "watchdog", "/dashboard", "watchdog"),
]


@pytest.mark.parametrize(("name", "party", "path", "who"), PAGES, ids=[p[0] for p in PAGES])
def test_the_main_pages_have_no_serious_accessibility_violations(
    net: Net, browser: Any, name: str, party: str, path: str, who: str | None
) -> None:
    # axe-core is injected as a script of the test, which the portal's CSP would rightly refuse
    context = browser.new_context(locale="ja-JP", bypass_csp=True)
    page = context.new_page()
    try:
        base = getattr(net, party).url
        if who == "clerk":
            login_clerk(page, base, "clerk-gifu")
        elif who == "resident":
            from sekisho.portal.accounts import PortalStore

            store = PortalStore.open(net.home, f"municipality/{GIFU}")
            try:
                code = store.issue_code(net.resident, by="clerk-gifu")
            finally:
                store.close()
            checkpoint(net)  # the resident's list needs a witnessed checkpoint (the tests run in any order)
            page.goto(f"{base}/resident/login")
            page.get_by_label("ワンタイムコード").fill(code)
            page.get_by_role("button", name="ログイン").click()
        elif who == "watchdog":
            page.goto(f"{base}/login")
            page.get_by_label("ログインID").fill("officer-1")
            page.get_by_label("パスワード").fill(PASSWORD)
            page.get_by_role("button", name="ログイン").click()
        page.goto(base + path)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
        shot(page, name)
    finally:
        context.close()


def test_phone_width_shows_the_resident_login(net: Net, browser: Any) -> None:
    context = browser.new_context(locale="ja-JP", viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(f"{net.gifu.url}/resident/login")
        box = page.get_by_role("button", name="ログイン").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 375
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        shot(page, "resident-login-phone")
    finally:
        context.close()


def test_the_english_switch(net: Net, page: Any) -> None:
    page.goto(f"{net.gifu.url}/clerk/login")
    page.get_by_role("link", name="English").click()
    assert page.get_by_role("button", name="Log in").is_visible()
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="日本語").click()
    assert page.locator("html").get_attribute("lang") == "ja"
    assert CHIYODA and GIFU


def test_a_clerk_opens_a_support_measure_and_files_a_household_change(net: Net, page: Any) -> None:
    from sekisho.registry.service import Actor

    from .conftest import ROW

    register = open_register(net.home, GIFU, actor=Actor(clerk="setup"))
    try:
        suzuki = {"family_name": "鈴木", "family_name_kana": "スズキ"}
        head = register.add(ROW | suzuki | {"given_name": "一郎", "given_name_kana": "イチロウ"})
        child = register.add(
            ROW | suzuki | {"given_name": "次郎", "given_name_kana": "ジロウ", "relationship": "子"},
            household=head.household,
        )
    finally:
        register.engine.dispose()
    login_clerk(page, net.gifu.url, "clerk-gifu")
    open_record(page, "スズキ ジロウ")
    page.get_by_label("措置の種類").select_option("dv")
    page.get_by_role("button", name=re.compile("支援措置を開始する")).click()
    assert "支援措置を開始しました" in page.get_by_role("status").first.inner_text()
    assert "provisional (有効)" in page.locator("table").first.inner_text()

    # lifting needs a reason: the field is named, and the measure stays as it was
    row = page.locator("table.measures tbody tr").first
    row.get_by_role("button", name="終了する").click()
    assert "終了の理由" in page.get_by_role("alert").inner_text()
    # confirmed: in force for a year; renewing at once is refused (it opens 30 days before the end), named so
    page.locator("table.measures tbody tr").first.get_by_role("button", name=re.compile("確認する")).click()
    assert "支援措置を確認しました" in page.get_by_role("status").first.inner_text()
    assert "active (有効)" in page.locator("table.measures").inner_text()
    page.locator("table.measures tbody tr").first.get_by_role("button", name=re.compile("延長する")).click()
    assert "延長の申出は期間終了の30日前から" in page.get_by_role("alert").inner_text()
    row = page.locator("table.measures tbody tr").first
    row.get_by_label("終了の理由").select_option("requested-by-subject")
    row.get_by_role("button", name="終了する").click()
    assert "支援措置を終了しました" in page.get_by_role("status").first.inner_text()
    assert "lifted" in page.locator("table.measures").inner_text()

    # 世帯分離: the child founds a household of their own (the form opened from the record, handle filled in)
    page.locator("form", has=page.get_by_role("button", name="世帯変更", exact=True)).get_by_role("button").click()
    assert page.get_by_role("textbox", name="整理番号", exact=True).input_value() == child.handle
    page.get_by_role("textbox", name="続柄", exact=True).fill("世帯主")
    page.get_by_role("textbox", name="変更日", exact=True).fill("令和7年4月1日")
    page.get_by_role("button", name="登録する").click()
    assert "受け付けました" in page.get_by_role("heading").first.inner_text()
    register = open_register(net.home, GIFU, actor=Actor(clerk="setup"))
    try:
        moved = register.show(child.handle)
    finally:
        register.engine.dispose()
    assert moved.household != head.household and moved.is_head


def test_a_clerk_issues_certificates_wide_area_too_and_sees_refusals(net: Net, page: Any) -> None:
    login_clerk(page, net.gifu.url, "clerk-gifu")
    page.get_by_role("link", name=re.compile("住民票の写しの交付")).click()
    form = page.locator("main form")
    # 広域交付: 千代田区's resident at 岐阜市's counter, asking in person (a support measure does not stop that)
    form.get_by_role("textbox", name="住民の整理番号").fill(net.protected)
    form.get_by_role("textbox", name=re.compile("住民票のある市区町村")).fill(CHIYODA)
    form.get_by_label("本人", exact=True).check()
    form.get_by_label("世帯主・続柄").check()
    with page.expect_download() as got:
        form.get_by_role("button", name=re.compile("交付する")).click()
    download = got.value
    body = Path(download.path()).read_bytes()
    assert body.startswith(b"%PDF") and download.suggested_filename.startswith(f"{CHIYODA}-")
    assert net.protected not in page.url and "certificate" in page.url  # nothing personal in any URL

    # a third party asking for the protected resident: refused, the message shown, what was typed kept
    form.get_by_label("第三者（職務上請求）").check()
    form.get_by_role("textbox", name=re.compile("請求者のID")).fill("bar/tokyo-12345")
    form.get_by_role("textbox", name="事由", exact=True).fill("債権回収のため")
    form.get_by_label("世帯主・続柄").uncheck()  # (a third party may not ask for it at all)
    form.get_by_label("形式").select_option("json")
    form.get_by_role("button", name=re.compile("交付する")).click()
    alert = page.get_by_role("alert").inner_text()
    assert "証明書の交付はできません" in alert and "支援措置の対象の方について" in alert
    assert form.get_by_role("textbox", name="住民の整理番号").input_value() == net.protected
    assert form.get_by_role("textbox", name=re.compile("請求者のID")).input_value() == "bar/tokyo-12345"
    assert form.get_by_label("第三者（職務上請求）").is_checked() and form.get_by_label("形式").input_value() == "json"
    shot(page, "clerk-certificate-refused")

    # a third party without its statutory reason: the field is named, nothing is asked of the home
    form.get_by_role("textbox", name="事由", exact=True).fill("")
    form.get_by_role("button", name=re.compile("交付する")).click()
    alert = page.get_by_role("alert").inner_text()
    assert "事由" in alert and "請求事由" in alert


def test_a_resident_requests_their_own_certificate_online(net: Net, page: Any) -> None:
    from sekisho.portal.accounts import PortalStore

    store = PortalStore.open(net.home, f"municipality/{GIFU}")
    try:
        code = store.issue_code(net.resident, by="clerk-gifu")
    finally:
        store.close()
    checkpoint(net)
    page.goto(f"{net.gifu.url}/resident/login")
    page.get_by_label("ワンタイムコード").fill(code)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name=re.compile("オンラインで請求")).click()
    page.get_by_label("フリガナ", exact=True).check()
    page.get_by_label("形式").select_option("json")
    with page.expect_download() as got:
        page.get_by_role("button", name=re.compile("交付する")).click()
    doc = json.loads(Path(got.value.path()).read_text())
    assert {"certificate", "jws", "crl"} <= doc.keys()
    assert "ケンイチ" in json.dumps(doc, ensure_ascii=False)


def card_answers(net: Net, challenge: str) -> str:
    """The card holder's software: the card's answer to the challenge the page shows (`sekisho login answer`)."""
    from typer.testing import CliRunner

    from sekisho.cli import app

    (net.home.root / "challenge.json").write_text(challenge)
    r = CliRunner().invoke(
        app, ["login", "answer", "-w", str(net.card), "--challenge", str(net.home.root / "challenge.json")]
    )
    assert r.exit_code == 0, r.output
    return r.stdout


def test_a_resident_enrols_their_card_at_the_counter_and_logs_in_with_it(net: Net, page: Any) -> None:
    # at the counter, once: the card answers a challenge and its pseudonym for this portal is bound to the record
    login_clerk(page, net.gifu.url, "clerk-gifu")
    open_record(page, "高橋")
    page.get_by_role("button", name="カードでのログインを登録").click()
    challenge = page.get_by_label("チャレンジ（カードに渡す）").input_value()
    assert json.loads(challenge)["rp"] == f"municipality/{GIFU}/portal"
    page.get_by_label("カードの応答").fill(card_answers(net, challenge))
    page.get_by_role("button", name="登録する").click()
    assert "カードでのログインを登録しました" in page.get_by_role("status").first.inner_text()
    page.get_by_role("button", name=re.compile("ログアウト")).click()

    checkpoint(net)
    page.goto(f"{net.gifu.url}/resident/login")
    page.get_by_role("link", name=re.compile("カードでログイン")).click()
    challenge = page.get_by_label("チャレンジ（カードに渡す）").input_value()
    answer = card_answers(net, challenge)
    assert "serial" not in answer and net.resident not in answer  # the pseudonym and two proofs, nothing else
    page.get_by_label("カードの応答").fill(answer)
    page.get_by_role("button", name="ログイン").click()
    assert page.get_by_role("heading", name="わたしの住民票").is_visible()
    assert "髙橋" in page.locator("dl.record").inner_text()
    shot(page, "resident-card-login")

    # the same answer again (a replay): its challenge was answered once already
    page.context.clear_cookies()
    page.goto(f"{net.gifu.url}/resident/card")
    page.evaluate("c => { document.querySelector('input[name=challenge]').value = c }", challenge)
    page.get_by_label("カードの応答").fill(answer)
    page.get_by_role("button", name="ログイン").click()
    assert "チャレンジが無効です" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("heading", name="わたしの住民票").count() == 0
