"""The portal's words in Japanese (the default) and English, and error messages put into Japanese.

Errors from the services name a field and a rule in English (the CLI's and the API's language); a form shows
them in the page's language, naming the field by its label and the rule in words a clerk reads at the counter.
A rule without a translation here is shown as the service said it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sekisho.errors import SekishoError

LANGS = ("ja", "en")

#: field -> (Japanese label, English label)
FIELDS: dict[str, tuple[str, str]] = {
    "family_name": ("氏", "Family name"),
    "given_name": ("名", "Given name"),
    "family_name_kana": ("氏（フリガナ）", "Family name (kana)"),
    "given_name_kana": ("名（フリガナ）", "Given name (kana)"),
    "birth_date": ("生年月日", "Date of birth"),
    "sex": ("性別", "Sex"),
    "nationality": ("国籍", "Nationality"),
    "relationship": ("続柄", "Relationship"),
    "town": ("町名・大字", "Town"),
    "block": ("番地・丁目", "Block"),
    "katagaki": ("方書", "Building / room"),
    "postal_code": ("郵便番号", "Postal code"),
    "moved_on": ("異動日", "Date of the move"),
    "died_on": ("死亡日", "Date of death"),
    "planned_on": ("転出予定日", "Planned date"),
    "filed_on": ("届出日", "Filing date"),
    "destination": ("転出先", "Destination"),
    "transfer": ("転出証明の番号", "Transfer token"),
    "household": ("世帯", "Household"),
    "target_household": ("移る先の世帯", "Household to join"),
    "changed_on": ("変更日", "Date of the change"),
    "kind": ("措置の種類", "Kind of measure"),
    "handle": ("整理番号", "Handle"),
    "query": ("検索語", "Search"),
    "reason": ("事由", "Reason"),
    "login": ("ログインID", "Login"),
    "password": ("パスワード", "Password"),
    "code": ("ワンタイムコード", "One-time code"),
    "became_resident_on": ("住民となった年月日", "Resident since"),
    "address_set_on": ("住所を定めた年月日", "Address since"),
    "warrant": ("令状", "Warrant"),
    "pia": ("PIA", "PIA"),
    "csrf": ("フォーム", "Form"),
    "for": ("住民の整理番号", "The resident's handle"),
    "home": ("住民票のある市区町村", "Home municipality"),
    "as": ("請求する人", "Who asks"),
    "requester": ("請求者のID", "Requester id"),
    "items": ("記載する項目", "Items"),
    "copies": ("通数", "Copies"),
    "form": ("形式", "Form"),
    "measure": ("支援措置", "Support measure"),
    "lift_reason": ("終了の理由", "Reason for lifting"),
    "certificate": ("証明書", "Certificate"),
    "response": ("カードの応答", "The card's answer"),
    "challenge": ("チャレンジ", "Challenge"),
    "validity": ("カードの有効性", "The card's validity"),
    "card": ("カード", "Card"),
}

#: (pattern of the English rule, Japanese) — the first match wins; groups are substituted as {1}, {2}
RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), ja)
    for p, ja in (
        (r"^(is required|a date is required|.* is required.*)$", "入力してください（必須項目です）"),
        (r"^must be written in kana", "カタカナまたはひらがなで入力してください"),
        (r"^a reading in kana is required", "フリガナをカタカナまたはひらがなで入力してください"),
        (
            r"^(\S+) ended on (\S+) \(([\d-]+)\); the date is after the era's last day",
            "{1}は{2}（{3}）で終わっています。その後の日付は次の元号で入力してください",
        ),
        (r"^the date is before the first day of (\S+) \((\S+),", "{1}の初日（{2}）より前の日付です"),
        (r"^an era year starts at 1", "元号の年は元年（1年）から始まります"),
        (r"^unknown era name", "元号が正しくありません"),
        (
            r"^not a recognised date",
            "日付として読めません（令和元年5月1日、R1.5.1、2019-05-01 のように入力してください）",
        ),
        (r"^no such day in that month", "その月にない日です"),
        (r"^the month must be between 1 and 12", "月は1から12までです"),
        (r"^a complete date", "年・月・日をすべて入力してください"),
        (r"^is in the future", "未来の日付は入力できません"),
        (r"^is before the birth date", "生年月日より前の日付です"),
        (r"^sex must be", "男または女を入力してください"),
        (r"^sex is required", "性別（男または女）を入力してください"),
        (r"^the town is not a town of this municipality", "この市区町村の町名ではありません（郵便番号データによる）"),
        (r"^a town \(町名", "町名・大字を入力してください"),
        (r"^not a recognised block notation", "丁目・番・号または番地の形で入力してください"),
        (r"^a name may have at most (\d+) characters", "{1}文字以内で入力してください"),
        (r"must not contain symbols or emoji", "記号や絵文字は使えません"),
        (r"^is empty|^has nothing to search for", "検索語を入力してください"),
        (r"^the login or the password is wrong", "ログインIDまたはパスワードが違います"),
        (r"^the code is wrong, used or expired", "コードが違うか、使用済みまたは期限切れです"),
        (r"^too many failed logins", "ログインの失敗が多すぎます。しばらくしてからお試しください"),
        (r"^is not a transfer token", "転出証明の番号ではありません"),
        (r"^write 子 for a child", "子の続柄は「子」と入力してください（長男・長女は使いません）"),
        (r"^the form has expired", "フォームの有効期限が切れました。もう一度送信してください"),
        (r"^the form came from another", "このポータル以外から送信されたフォームは受け付けません"),
        (r"^must be at least (\d+) characters", "{1}文字以上にしてください"),
        (r"^a third party must state its statutory reason", "第三者の請求には請求事由（職務上請求の根拠）が必要です"),
        (r"^must be between 1 and 10", "1から10までの数を入力してください"),
        (
            r"^a household member names itself by its handle",
            "世帯員は整理番号、代理人・第三者は委任状・登録番号のID（英数字と _./:- の1〜128文字）を入力してください",
        ),
        (r"^must be 1 to (\d+) characters", "1〜{1}文字で入力してください"),
        (r"^must be HANDLE@MUNICIPALITY|^not a valid handle|^is not a handle", "整理番号が正しくありません"),
        (r"^must be self, household, proxy or third-party", "請求する人を選んでください"),
        (r"^the resident's home is another municipality", "住民票のある市区町村が違います"),
        (r"issues no certificates", "この市区町村のノードは証明書を交付していません"),
        (r"^only a provisional measure can be confirmed", "確認できるのは仮措置だけです"),
        (r"^only an active measure can be renewed", "延長できるのは確認済みの措置だけです"),
        (r"^the measure has ended", "措置の期間は終わっています。新たな申出が必要です"),
        (r"^renewal opens (\d+) days before the end", "延長の申出は期間終了の{1}日前から受け付けます"),
        (r"^the measure is lifted already", "この措置はすでに終了しています"),
        (r"^must be requested-by-subject, check-failed", "終了の理由を選んでください"),
        (r"^no support measure with this reference", "この住民の支援措置ではありません"),
        (
            r"^the challenge is unknown, answered already or expired",
            "チャレンジが無効です（使用済みまたは期限切れ）。新しいチャレンジで応答してください",
        ),
        (
            r"^this card is not enrolled for this portal",
            "このカードはこのポータルに登録されていません。窓口で登録してください",
        ),
        (r"^this card is enrolled for another resident", "このカードは別の住民に登録されています"),
        (r"^is not the card's answer", "カードの応答（JSON）を貼り付けてください"),
        (r"^not a login (challenge|response)", "カードの応答として読めません"),
        (
            r"^the card's validity proof is refused|^a login needs a validity proof",
            "カードが有効であることを確認できません（失効・期限切れ）",
        ),
        (
            r"^the prefecture's status list is not of today",
            "都道府県の失効情報が本日付ではありません。しばらくしてからお試しください",
        ),
        (r"^the pseudonym's proof|proof of knowledge", "カードの応答を確認できません"),
        (r"takes no card logins yet", "このポータルではまだカードでログインできません"),
        (r"^must be dv, stalking, child-abuse or other", "措置の種類を選んでください"),
    )
]


def field_label(field: str | None, lang: str) -> str:
    if not field:
        return ""
    labels = FIELDS.get(field)
    return labels[0 if lang == "ja" else 1] if labels else field


def _fill(template: str, groups: tuple[str | None, ...]) -> str:
    return re.sub(r"\{(\d)\}", lambda g: groups[int(g.group(1))] or "", template)


#: a decision's reasons as a clerk or a resident reads them (``sekisho.policy.procedure``)
REASONS: dict[str, str] = {
    "protected-third-party": "支援措置の対象の方について、代理人・第三者には交付できません",
    "clerk-review": "担当職員の確認が必要です",
    "protected-self-service": "支援措置の対象の方はオンラインでは請求できません。窓口でご請求ください",
    "protected-requester-named": "支援措置で交付を拒否されている請求者です",
    "not-same-household": "同一世帯の者ではありません",
    "item-not-allowed": "この請求では記載できない項目",
}


def _reasons(text: str) -> str:
    out = []
    for reason in (r.strip() for r in text.split(",")):
        code, _, detail = reason.partition(":")
        ja = REASONS.get(code)
        out.append(f"{ja}: {detail}" if ja and detail else ja or reason)
    return "、".join(out)


def rule_text(message: str, lang: str) -> str:
    if lang != "ja":
        return message
    refused = re.match(r"^the certificate is refused \((.*)\)$", message)
    if refused is not None:
        return f"証明書の交付はできません（{_reasons(refused.group(1))}）"
    for pattern, ja in RULES:
        m = pattern.search(message)
        if m is not None:
            return _fill(ja, ("", *m.groups()))
    return message


def error_items(exc: SekishoError, lang: str) -> list[tuple[str | None, str, str]]:
    """(field, label, rule) for each problem an error carries (a row's errors are several)."""
    inner = getattr(exc, "errors", None)
    errors: list[SekishoError] = list(inner) if isinstance(inner, list) and inner else [exc]
    return [(e.field, field_label(e.field, lang), rule_text(e.message, lang)) for e in errors]


# --- the pages' words -----------------------------------------------------------------------------------------

WORDS: dict[str, tuple[str, str]] = {
    "sekisho": ("関所 住民基本台帳ポータル", "Sekisho resident registry portal"),
    "skip": ("本文へ移動", "Skip to content"),
    "lang_switch": ("English", "日本語"),
    "login": ("ログイン", "Log in"),
    "logout": ("ログアウト", "Log out"),
    "resident_portal": ("住民の方", "Residents"),
    "clerk_console": ("職員の方", "Clerks"),
    "watchdog": ("個人情報保護委員会", "Privacy commission"),
    "password": ("パスワード", "Password"),
    "login_id": ("ログインID", "Login"),
    "code": ("ワンタイムコード", "One-time code"),
    "code_help": (
        "窓口で受け取った12文字のコード（例: ABCD-EFGH-JKLM）",
        "The 12-character code from the counter (e.g. ABCD-EFGH-JKLM)",
    ),
    "errors_title": ("入力内容を確認してください", "Please check what you entered"),
    "search": ("検索", "Search"),
    "search_help": (
        "氏名またはフリガナ（異体字・かな・全角半角を区別しません）",
        "Name or reading (variant kanji, kana and width are folded)",
    ),
    "results": ("検索結果", "Results"),
    "no_results": ("該当する住民はいません", "No resident found"),
    "open": ("開く", "Open"),
    "procedures": ("届出", "Procedures"),
    "move_in": ("転入", "Move-in"),
    "birth": ("出生", "Birth"),
    "death": ("死亡", "Death"),
    "move_within": ("転居", "Move within"),
    "move_out": ("転出", "Move-out"),
    "furigana": ("フリガナの記載", "Furigana"),
    "correction": ("職権修正", "Correction"),
    "register": ("登録する", "Register"),
    "name": ("氏名", "Name"),
    "kana": ("フリガナ", "Reading"),
    "birth_date": ("生年月日", "Date of birth"),
    "sex": ("性別", "Sex"),
    "address": ("住所", "Address"),
    "status": ("状態", "Status"),
    "household": ("世帯", "Household"),
    "relationship": ("続柄", "Relationship"),
    "handle": ("整理番号", "Handle"),
    "issue_code": ("住民ポータルのワンタイムコードを発行", "Issue a one-time code for the resident portal"),
    "code_issued": ("ワンタイムコード（30分有効・1回限り）", "One-time code (valid 30 minutes, once)"),
    "done": ("受け付けました", "Done"),
    "my_record": ("わたしの住民票", "My record"),
    "my_accesses": ("わたしの情報へのアクセス", "Who accessed my data"),
    "when": ("日時", "When"),
    "who": ("誰が", "Who"),
    "terminal": ("端末", "Terminal"),
    "what": ("何を", "Action"),
    "purpose": ("目的", "Purpose"),
    "basis": ("法的根拠・令状", "Legal basis / warrant"),
    "items": ("項目", "Items"),
    "verified": ("検証済み", "Verified"),
    "verified_help": (
        "公開ログへの包含証明と、あなただけの鍵によるコミットメントを確認しました",
        "Inclusion in the public log and your commitment key both checked",
    ),
    "checkpoint": ("チェックポイント", "Checkpoint"),
    "sealed_hidden": ("封印中の記録（期日後に表示されます）", "Sealed entries (shown after their date)"),
    "pending": ("次のチェックポイントで表示される記録", "Entries shown with the next checkpoint"),
    "download": (
        "検証用データをダウンロード（sekisho log verify-list）",
        "Download for verification (sekisho log verify-list)",
    ),
    "dashboard": ("監視ダッシュボード", "Oversight dashboard"),
    "log_status": ("公開ログの状態", "The public log"),
    "alerts": ("異常検知アラート", "Anomaly alerts"),
    "pias": ("PIA（特定個人情報保護評価）", "PIAs"),
    "warrants": ("令状", "Warrants"),
    "approve": ("承認", "Approve"),
    "reject": ("却下", "Reject"),
    "conversions": ("令状による変換の件数", "Conversions under warrants"),
    "decisions_chart": ("機関・目的別のアクセス判断", "Decisions per agency and purpose"),
    "agency": ("機関", "Agency"),
    "count": ("件数", "Count"),
    "none": ("ありません", "None"),
    "moved_on": ("異動日", "Date of the move"),
    "filed_on": ("届出日", "Filing date"),
    "died_on": ("死亡日", "Date of death"),
    "planned_on": ("転出予定日", "Planned date"),
    "destination": ("転出先", "Destination"),
    "transfer": ("転出証明の番号（他市区町村からの転入）", "Transfer token (from another municipality)"),
    "family_name": ("氏", "Family name"),
    "given_name": ("名", "Given name"),
    "family_name_kana": ("氏（フリガナ）", "Family name (kana)"),
    "given_name_kana": ("名（フリガナ）", "Given name (kana)"),
    "nationality": ("国籍", "Nationality"),
    "town": ("町名・大字", "Town"),
    "block": ("番地・丁目", "Block"),
    "katagaki": ("方書", "Building / room"),
    "date_help": (
        "和暦（令和6年4月1日、R6.4.1）または西暦（2024-04-01）",
        "和暦 (令和6年4月1日, R6.4.1) or Gregorian (2024-04-01)",
    ),
    "kana_help": ("カタカナまたはひらがな", "Katakana or hiragana"),
    "male": ("男", "Male"),
    "female": ("女", "Female"),
    "requester": ("請求者", "Requester"),
    "target": ("対象", "Target"),
    "used": ("使用数", "Used"),
    "persons": ("上限人数", "Persons"),
    "size": ("ログの大きさ", "Size"),
    "cosigned": ("連署", "Cosigned"),
    "consistent": ("整合性確認", "Consistency checked"),
    "yes": ("はい", "yes"),
    "no": ("いいえ", "no"),
    "reason": ("事由", "Reason"),
    "item": ("修正する項目", "Item to correct"),
    "value": ("新しい値", "New value"),
    "back": ("戻る", "Back"),
    "whole_household": ("世帯全員", "The whole household"),
    "severity": ("重要度", "Severity"),
    "rule": ("規則", "Rule"),
    "subject": ("対象", "Subject"),
    "acknowledge": ("確認済みにする", "Acknowledge"),
    "household_change": ("世帯変更", "Household change"),
    "target_household": ("移る先の世帯（空欄なら新しい世帯）", "Household to join (empty: a new household)"),
    "changed_on": ("変更日", "Date of the change"),
    "measures": ("支援措置", "Support measures"),
    "measure_kind": ("措置の種類", "Kind of measure"),
    "measure_dv": ("DV（配偶者からの暴力）", "Domestic violence"),
    "measure_stalking": ("ストーカー行為", "Stalking"),
    "measure_child-abuse": ("児童虐待", "Child abuse"),
    "measure_other": ("その他", "Other"),
    "open_measure": ("支援措置を開始する（確認まで仮措置）", "Open a measure (provisional until confirmed)"),
    "measure_opened": ("支援措置を開始しました", "The measure is in force"),
    "in_force": ("有効", "in force"),
    "expires_on": ("期限", "Expires"),
    "wallet": ("ウォレットで受け取る証明書", "Credentials for your wallet"),
    "wallet_help": (
        "住所や年齢を証明できる電子証明書（SD-JWT VC）を、あなたのウォレットに発行します。",
        "Your municipality issues you credentials (SD-JWT VC) that prove where you live or your age.",
    ),
    "wallet_offer": ("ウォレットで受け取る", "Receive in my wallet"),
    "wallet_ready": (
        "10分以内に、一度だけ使えます。ウォレットに次のどちらかを渡してください（sekisho wallet receive）。",
        "Usable once within 10 minutes: give your wallet one of these (sekisho wallet receive).",
    ),
    "wallet_uri": ("オファーURI", "Offer URI"),
    "wallet_json": ("オファー（JSON）", "Offer (JSON)"),
    "settings": ("わたしの設定", "My settings"),
    "notices": ("本人通知制度", "Notification when others obtain my certificates (本人通知)"),
    "notices_help": (
        "代理人や第三者があなたの住民票の写しなどを取得したとき、そのことをお知らせします。",
        "You are told whenever a proxy or a third party obtains a certificate of your record.",
    ),
    "registered": ("登録しています", "Registered"),
    "not_registered": ("登録していません", "Not registered"),
    "notices_on": ("本人通知に登録する", "Register for notices"),
    "notices_off": ("本人通知の登録をやめる", "Stop the notices"),
    "notifications": ("これまでの通知", "Notices so far"),
    "certificate": ("証明書", "Certificate"),
    "copies": ("通数", "Copies"),
    "opt_out": ("同意に基づく利用の拒否", "Refuse uses based only on consent"),
    "opt_out_help": (
        "法令の根拠がなく、同意だけに基づく利用（民間事業者など）をすべて断ります。",
        "Every use with no legal basis, resting only on your consent (e.g. by businesses), is refused.",
    ),
    "opted_out": ("拒否しています", "Refused"),
    "not_opted_out": ("拒否していません", "Not refused"),
    "opt_out_on": ("同意に基づく利用を拒否する", "Refuse them"),
    "opt_out_off": ("拒否をやめる", "Allow them again"),
    "logged_out": ("ログアウトしました", "You are logged out"),
    "measure_actions": ("操作", "Actions"),
    "measure_confirm": ("確認する（1年間）", "Confirm (one year)"),
    "measure_renew": ("延長する（1年間）", "Renew (one year)"),
    "measure_lift": ("終了する", "Lift"),
    "measure_confirmed": ("支援措置を確認しました（1年間）", "The measure is confirmed for a year"),
    "measure_renewed": ("支援措置を延長しました", "The measure is renewed"),
    "measure_lifted": ("支援措置を終了しました", "The measure is lifted"),
    "lift_reason": ("終了の理由", "Reason"),
    "choose": ("選んでください", "Choose"),
    "lift_requested-by-subject": ("本人の申出", "Asked by the person"),
    "lift_check-failed": ("確認の結果、要件を満たさない", "The check failed"),
    "lift_moved-away": ("転出", "Moved away"),
    "lift_other": ("その他", "Other"),
    "certificate_issue": ("住民票の写しの交付（広域交付を含む）", "Certificate of residence (wide-area too)"),
    "certificate_help": (
        "他の市区町村の住民の写しも交付できます（広域交付: 本籍は記載できません）。"
        "交付の判断と署名は住民票のある市区町村が行います。",
        "A resident of another municipality too (wide-area: no 本籍); their home municipality decides and signs.",
    ),
    "for": ("住民の整理番号", "The resident's handle"),
    "home": ("住民票のある市区町村（コード）", "Home municipality (code)"),
    "home_help": ("6桁の団体コード（例: 212016）", "The 6-digit code (e.g. 212016)"),
    "as": ("請求する人", "Who asks"),
    "as_self": ("本人", "The resident"),
    "as_household": ("同一世帯の者", "A member of the household"),
    "as_proxy": ("代理人（委任状）", "A proxy (mandate)"),
    "as_third-party": ("第三者（職務上請求）", "A third party (statutory)"),
    "requester_id": (
        "請求者のID（世帯員の整理番号・委任状や登録の番号。氏名は入力しません）",
        "Requester id (never a name)",
    ),
    "requester_help": (
        "本人のときは空欄。世帯員は整理番号、代理人は委任状の番号、第三者は登録番号",
        "Empty for the resident; a member's handle, a mandate id or a registration id",
    ),
    "reason_help": ("第三者の請求では必須（請求事由）", "Required for a third party (the statutory reason)"),
    "basic_items_help": (
        "氏名・生年月日・性別・住所は必ず記載されます。ほかに記載する項目:",
        "Name, birth date, sex and address are always shown; also show:",
    ),
    "item_kana": ("フリガナ", "Reading"),
    "item_resident_since": ("住民となった年月日", "Resident since"),
    "item_household": ("世帯主・続柄", "Head of household and relationship"),
    "item_honseki": ("本籍・筆頭者", "本籍 (registered domicile)"),
    "item_moved": ("前住所・異動", "Previous address and moves"),
    "certificate_form": ("形式", "Form"),
    "form_pdf": ("PDF（電子署名・タイムスタンプ付き）", "PDF (signed, time-stamped)"),
    "form_json": ("JSON（電子署名付き）", "JSON (signed)"),
    "certificate_get": ("交付する（ダウンロード）", "Issue (download)"),
    "certificate_request": ("住民票の写しの請求", "Request a certificate of residence"),
    "certificate_request_link": ("住民票の写しをオンラインで請求する", "Request a certificate of residence online"),
    "certificate_resident_help": (
        "あなたの住民票の写しを、電子署名付きのファイルで交付します。支援措置を受けている方は窓口でご請求ください。",
        "Your own certificate, as a signed file.  Under a support measure, please ask at the counter.",
    ),
    "card_login": ("カードでログイン", "Log in with your card"),
    "card_login_link": (
        "カードでログインする（窓口で一度登録したカード）",
        "Log in with your card (enrolled once at the counter)",
    ),
    "card_login_help": (
        "カードに次のチャレンジを渡し、カードの応答を貼り付けてください。"
        "カードはこのポータル専用の仮名だけを示し、カードの番号や証明書は送られません。",
        "Give your card the challenge below and paste its answer: the card shows only its pseudonym for this portal,"
        " never its number or certificate.",
    ),
    "card_challenge": ("チャレンジ（カードに渡す）", "Challenge (for your card)"),
    "card_challenge_help": (
        "カードのソフトウェア（sekisho login answer）に渡します",
        "For the card's software (sekisho login answer)",
    ),
    "card_rp": ("このポータルの識別子", "This portal's id"),
    "card_response": ("カードの応答", "The card's answer"),
    "card_response_help": ("カードのソフトウェアが出力したJSON", "The JSON your card's software printed"),
    "card_unavailable": ("このポータルではまだカードでログインできません", "This portal takes no card logins yet"),
    "code_login": ("ワンタイムコードでログイン", "Log in with a one-time code"),
    "card_enrol": ("カードでのログインを登録", "Enrol the card for the resident portal"),
    "card_enrol_help": (
        "本人確認のうえ、住民のカードに次のチャレンジを渡し、応答を貼り付けてください。"
        "カードのこのポータル用の仮名がこの住民に結び付けられます（以前のカードは置き換わります）。",
        "Having checked the person, give their card this challenge and paste its answer: the card's pseudonym for"
        " this portal is bound to this resident (replacing an earlier card).",
    ),
    "card_enrol_do": ("登録する", "Enrol"),
    "card_enrolled": ("カードでのログインを登録しました", "The card is enrolled for the resident portal"),
    "session_over": (
        "セッションが終了しました。もう一度ログインしてください",
        "Your session is over; please log in again",
    ),
}


def translator(lang: str) -> Callable[[str], str]:
    i = 0 if lang == "ja" else 1

    def t(key: str) -> str:
        words = WORDS.get(key)
        return words[i] if words else key

    return t
