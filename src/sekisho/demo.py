"""`sekisho demo`: a small working network, built from scratch and walked through step by step.

Every step uses the same services the CLI and the API use; nothing here is special-cased for the demo.  Each
later part of the network (pseudonyms, agencies, the public log, the PKI) adds its own steps.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from sekisho.config import Home
from sekisho.errors import SekishoError
from sekisho.jp.catalogue import catalogue
from sekisho.jp.clock import japan_today
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register, open_register
from sekisho.registry.model import Resident
from sekisho.registry.service import Actor, RegisterService

GIFU = "212016"  # 岐阜市
CHIYODA = "131016"  # 千代田区
MARKER = ".sekisho-demo"
#: the demo's throw-away key files (the same one the agencies' part uses)
DEMO_PASSPHRASE = b"sekisho-demo"


@dataclass
class DemoReport:
    """What the demo did, for the summary (and for the tests that run it)."""

    home: Path
    imported: int = 0
    import_seconds: float = 0.0
    steps: list[str] = field(default_factory=list)
    access_records: int = 0
    moved_handle: str = ""
    agencies: dict[str, int] = field(default_factory=dict)
    log_entries: int = 0
    #: accesses the resident's portal page listed, each verified
    portal_verified: int = 0


def prepare_home(path: Path) -> Home:
    """A fresh demo home; refuses to wipe a directory that was not made by the demo."""
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise SekishoError(f"{path} exists and was not made by the demo; choose another --home")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by `sekisho demo`; deleted and rebuilt by the next run\n")
    return Home(root=path.absolute())


def run(
    path: Path,
    *,
    residents: int = 2000,
    console: Console | None = None,
    progress: Callable[[str, int | None], object] | None = None,
    network: Callable[[Home, Console], list[str]] | None = None,
    passphrase: bytes = DEMO_PASSPHRASE,
) -> DemoReport:
    """The narrated scenario on a fresh home at ``path``, every key sealed with ``passphrase``.
    ``network(home, console)``, when given, runs after the scenario's own parties have closed (the log's single
    writer among them) and before the summary: the CLI starts the parties as processes there and shows them at
    work; it returns lines for the summary."""
    out = console or Console()
    home = prepare_home(path)
    report = DemoReport(home=home.root)

    def step(title: str) -> None:
        report.steps.append(title)
        out.rule(f"[bold]{len(report.steps)}. {title}")

    cat = catalogue()
    step("The catalogue of local governments")
    out.print(
        f"{len(cat.prefectures())} prefectures, {len(cat.municipalities()):,} municipalities, "
        f"{len(cat.wards())} wards of designated cities (codes with JIS X 0401/0402 check digits)"
    )
    for code in (GIFU, CHIYODA):
        m = cat.get(code)
        out.print(f"  {m.code}  {m.full_name}（{m.kana}）")

    step("The public access log and its witness")
    from sekisho.auditlog.keys import DEFAULT_ORIGIN, DEFAULT_WITNESS
    from sekisho.auditlog.service import init_parties

    log_config, _ = init_parties(home, passphrase, origin=DEFAULT_ORIGIN, witness_name=DEFAULT_WITNESS)
    out.print(f"  log key {log_config.vkey.name} and the watchdog's cosigning key; every access goes here first")

    step("Two municipal registers, each in its own database")
    directory = LocalDirectory(home)
    gifu = create_register(home, GIFU, actor=Actor(clerk="demo-clerk"), directory=directory)
    chiyoda = create_register(home, CHIYODA, actor=Actor(clerk="demo-clerk"), directory=directory)
    for svc in (gifu, chiyoda):
        out.print(f"  {svc.municipality.full_name}: {home.party_db_url(f'municipality/{svc.code}')}")
    out.print("  no resident code, no My Number: clerks use handles that mean nothing outside one register")

    step(f"Importing {residents:,} synthetic residents of 岐阜市")
    from sekisho.synth.residents import generate_file

    source = home.root / "gifu-residents.csv"
    generate_file(source, municipality=GIFU, count=residents, seed=2033)  # a seed whose 2,000 include 髙橋
    started = time.perf_counter()
    result = gifu.import_file(source)
    report.imported = result.rows
    report.import_seconds = time.perf_counter() - started
    out.print(
        f"  {result.rows:,} residents in {result.households:,} households, validated and written in one "
        f"transaction ({report.import_seconds:.1f} s); names stored exactly as written, readings normalised"
    )

    step("A clerk looks someone up (every hit leaves an access record first)")
    hits = gifu.search("高橋", limit=5) or gifu.search("佐藤", limit=5)
    table = Table("handle", "氏名", "フリガナ", "生年月日", "住所")
    for r in hits:
        table.add_row(r.handle, r.display_name, r.display_kana, r.birth_date_display(), r.address.line())
    out.print(table)
    variants = [r.family_name for r in gifu.search("タカハシ", limit=50) if r.family_name != "高橋"]
    if variants:
        out.print(f"  the search for 高橋 also finds variant spellings: {', '.join(sorted(set(variants)))}")

    step("Procedures: a birth, a move within the city, a death")
    head = next(r for r in hits if r.is_head) if any(r.is_head for r in hits) else hits[0]
    today = japan_today()
    child, late = gifu.birth(
        {
            "family_name": head.family_name,
            "given_name": "陽菜",
            "family_name_kana": head.family_name_kana or "タカハシ",
            "given_name_kana": "ヒナ",
            "birth_date": (today - timedelta(days=3)).isoformat(),
            "sex": "女",
            "relationship": "子" if head.is_head else "子の子",
            "nationality": "日本" if not head.is_foreign else head.nationality,
        },
        household=head.household,
    )
    out.print(f"  出生: {child.display_name} ({child.handle}) born into household {child.household}, late={late}")
    moved = gifu.move_within(
        head.handle,
        town="藍川町",
        block="18番地",
        moved_on=(today - timedelta(days=1)).isoformat(),
        whole_household=True,
    )
    out.print(f"  転居: {len(moved)} members of household {head.household} moved to 岐阜市藍川町18番地 together")
    someone = next(r for r in gifu.search("佐藤", limit=20) if r.handle != head.handle)
    closed, _ = gifu.death(someone.handle, died_on=(today - timedelta(days=2)).isoformat())
    reason = closed.closed.reason.value if closed.closed else "?"
    out.print(f"  死亡: {closed.handle} closed with reason {reason}; the 除票 is kept")

    step("Moving to 千代田区: move-out at 岐阜市, move-in and hand-over at 千代田区")
    mover = _single_head(gifu)
    _, token, _ = gifu.move_out(
        mover.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on=(today + timedelta(days=5)).isoformat()
    )
    assert token is not None
    res = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on=today.isoformat(), transfer=token)
    report.moved_handle = res.resident.handle
    origin = gifu.show(mover.handle)
    out.print(
        Panel(
            f"岐阜市 {mover.handle}: {origin.status.value}, "
            f"消除事由 {origin.closed.reason.value if origin.closed else '-'}, "
            f"転出先 {origin.closed.destination_confirmed if origin.closed else '-'}\n"
            f"千代田区 {res.resident.handle}: {res.resident.status.value}, 従前の住所 {res.resident.previous_address}",
            title="exactly one active record, and the secret root moved with the person",
        )
    )

    step("Bad input is refused with the field and the rule, never the value")
    for label, row in (
        ("平成31年5月1日 (平成 ended on 4月30日)", {"birth_date": "平成31年5月1日"}),
        ("a furigana written in kanji", {"family_name_kana": "高はし"}),
    ):
        try:
            gifu.add(_sample_row() | row)
        except SekishoError as exc:
            out.print(f"  {label}: [red]{exc}[/red]")

    step("The network: no universal number — every agency, and the PKI, with a pseudonym of its own")
    from sekisho.node.demo_agencies import run_agencies

    agencies = run_agencies(home, GIFU, out, passphrase=passphrase)
    report.agencies = agencies.enrolled

    step("Who looked at me? A resident's provable access list")
    report.log_entries = _show_access_list(home, GIFU, head.handle, out, passphrase)

    step("The web portal: the resident sees the same list on their own page")
    from sekisho.portal.demo import run_portal

    report.portal_verified = run_portal(home, GIFU, head.handle, out)

    from sqlalchemy import func, select

    from sekisho.registry import store as st

    with gifu.engine.connect() as conn:
        report.access_records = int(conn.execute(select(func.count()).select_from(st.access)).scalar_one())
    from sekisho.auditlog.client import close_access_logs

    close_access_logs()  # the in-process log writer stops here: from now on the log's own process writes
    summary = []
    if network is not None:
        step("The network: every party its own OS process, over mutual TLS")
        summary = network(home, out)
    step("Summary")
    out.print(f"  registers: 岐阜市 {gifu.count():,} active, 千代田区 {chiyoda.count():,} active")
    out.print(f"  access records written by the reads above (岐阜市): {report.access_records:,}")
    out.print(f"  public log: {report.log_entries:,} entries, verified from its leaves to its witnessed checkpoint")
    for line in summary:
        out.print(f"  {line}")
    out.print(f"  home: {home.root}  (rerun `sekisho demo` to rebuild it)")
    return report


def _show_access_list(home: Home, code: str, handle: str, out: Console, passphrase: bytes) -> int:
    """Checkpoint and cosign the log, hand one resident their access list, verify it as they would, and
    verify the whole log from its leaves."""
    import json

    from sekisho.auditlog.keys import LogConfig
    from sekisho.auditlog.service import LogService
    from sekisho.auditlog.witness import Witness
    from sekisho.registry.service import access_list_json
    from sekisho.transparency.log import verify_access_document

    log = LogService.open(home, secret=passphrase)
    witness = Witness.open(home, secret=passphrase)
    try:
        log.issue_checkpoint()
        note = log.request_cosignatures(witness)
    finally:
        witness.engine.dispose()
    out.print("  the log signs a checkpoint and the watchdog cosigns it after checking consistency:")
    out.print("    " + "\n    ".join(note.strip().splitlines()[:3]) + "\n    …")
    register = open_register(home, code, actor=Actor(clerk="portal"))
    doc = access_list_json(register.access_list(handle))
    (home.root / "access-list.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    config = LogConfig.load(home)
    checkpoint, entries = verify_access_document(doc, config.vkey, config.witnesses)
    table = Table("#", "when (UTC)", "who", "what", "purpose", "items")
    for index, e in entries[-8:]:
        table.add_row(
            str(index), e.at.strftime("%H:%M:%S"), f"{e.actor_kind} {e.actor}", e.action, e.purpose, ", ".join(e.items)
        )
    out.print(table)
    out.print(
        f"  {len(entries)} accesses to {handle}, each proved included in the witnessed checkpoint of size "
        f"{checkpoint.size} and committed to this resident only (their key, from their root); "
        f"`sekisho log verify-list {home.root / 'access-list.json'}` checks it again"
    )
    report = log.verify()
    log.close()
    out.print(
        f"  `sekisho log verify`: {report.size:,} leaves re-hashed, {report.checkpoints} checkpoint(s) and "
        f"{report.cosigned} cosignature(s) consistent ({report.seconds:.2f} s)"
    )
    return report.size


def _single_head(svc: RegisterService) -> Resident:
    """A resident who lives alone (so that a move does not split a household in the demo)."""
    from sqlalchemy import func, select

    from sekisho.registry import store as st

    with svc.engine.connect() as conn:
        households = (
            select(st.resident.c.household_id)
            .where(st.resident.c.status == "active")
            .group_by(st.resident.c.household_id)
            .having(func.count() == 1)
        )
        handle = conn.execute(
            select(st.resident.c.handle).where(st.resident.c.household_id.in_(households)).limit(1)
        ).scalar_one()
    return svc.show(handle, purpose="move-out")


def _sample_row() -> dict[str, str]:
    return {
        "household": "demo",
        "relationship": "世帯主",
        "family_name": "髙橋",
        "given_name": "健一",
        "family_name_kana": "タカハシ",
        "given_name_kana": "ケンイチ",
        "birth_date": "昭和50年4月1日",
        "sex": "男",
        "nationality": "日本",
        "town": "青柳町",
        "block": "3丁目5番12号",
        "became_resident_on": "平成10年4月1日",
        "address_set_on": "平成10年4月1日",
    }
