"""Property: any sequence of valid procedures keeps one live record per person, a complete history from which
every earlier version can be rebuilt, and closed records (除票) unchanged."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as s
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from homes import drop_namespace
from sekisho.config import Home
from sekisho.errors import Conflict, InvalidInput, SekishoError
from sekisho.jp.people import parse_relationship
from sekisho.node.local import LocalDirectory
from sekisho.node.registers import create_register
from sekisho.registry import store as st
from sekisho.registry.model import Resident, Status
from sekisho.registry.procedures import TRACKED, _text
from sekisho.registry.service import Actor, RegisterService

from .conftest import CHIYODA, GIFU, TODAY, person

PG_URL = os.environ.get("SEKISHO_TEST_DB") or None

GIVEN = [
    ("健一", "ケンイチ"),
    ("花子", "ハナコ"),
    ("翔太", "ショウタ"),
    ("陽菜", "ヒナ"),
    ("蓮", "レン"),
    ("美咲", "ミサキ"),
]
FAMILY = [("髙橋", "タカハシ"), ("佐藤", "サトウ"), ("渡邊", "ワタナベ"), ("山﨑", "ヤマザキ")]
ADDRESSES = {
    GIFU: [("青柳町", "3丁目5番12号"), ("藍川町", "18番地"), ("藍川町", "20番地")],
    CHIYODA: [("飯田橋", "2丁目3番4号")],
}


def _snap(r: Resident) -> dict[str, Any]:
    return {name: _text(getattr(r, name)) for name in TRACKED}


class RegisterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.namespace = f"t{uuid.uuid4().hex[:10]}_" if PG_URL else ""
        self.home = Home(root=self.tmp, db_url=PG_URL, namespace=self.namespace)
        directory = LocalDirectory(self.home, today=lambda: TODAY)
        self.regs = {
            code: create_register(self.home, code, actor=Actor("prop"), today=lambda: TODAY, directory=directory)
            for code in (GIFU, CHIYODA)
        }
        # handle -> (code, {version: snapshot}) for every version the machine observed
        self.versions: dict[str, tuple[str, dict[int, dict[str, Any]]]] = {}
        self.closed: dict[str, dict[str, Any]] = {}
        self.counter = 0

    def teardown(self) -> None:
        for svc in self.regs.values():
            svc.engine.dispose()
        drop_namespace(self.namespace)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # --- helpers

    def _track(self, code: str, r: Resident) -> None:
        snaps = self.versions.setdefault(r.handle, (code, {}))[1]
        assert r.version == max(snaps, default=0) + 1, (r.version, sorted(snaps))
        snaps[r.version] = _snap(r)
        if r.status is Status.CLOSED:
            self.closed[r.handle] = _snap(r)

    def _refresh(self, code: str) -> None:
        """Record the current state of every record of a register that a procedure may have touched."""
        svc = self.regs[code]
        with svc.engine.connect() as conn:
            rows = conn.execute(svc._select()).all()
        for row in rows:
            r = svc._from_row(row)
            snaps = self.versions.setdefault(r.handle, (code, {}))[1]
            assert r.version >= max(snaps, default=0)
            snaps[r.version] = _snap(r)
            if r.status is Status.CLOSED and r.handle not in self.closed:
                self.closed[r.handle] = _snap(r)

    def _active(self, code: str) -> list[Resident]:
        svc = self.regs[code]
        with svc.engine.connect() as conn:
            rows = conn.execute(svc._select().where(st.resident.c.status == Status.ACTIVE.value)).all()
        return [svc._from_row(row) for row in rows]

    # --- rules

    @rule(
        code=s.sampled_from([GIFU, CHIYODA]),
        fam=s.sampled_from(FAMILY),
        giv=s.sampled_from(GIVEN),
        addr=s.integers(0, 5),
    )
    def add_household(self, code: str, fam: tuple[str, str], giv: tuple[str, str], addr: int) -> None:
        self.counter += 1
        town, block = ADDRESSES[code][addr % len(ADDRESSES[code])]
        row = person(
            family_name=fam[0],
            family_name_kana=fam[1],
            given_name=giv[0],
            given_name_kana=giv[1],
            birth_date=f"昭和{30 + self.counter % 30}年{1 + self.counter % 12}月{1 + self.counter % 28}日",
            town=town,
            block=block,
        )
        self._track(code, self.regs[code].add(row))

    @precondition(lambda self: any(self._active(c) for c in (GIFU,)))
    @rule(data=s.data(), giv=s.sampled_from(GIVEN))
    def birth(self, data: s.DataObject, giv: tuple[str, str]) -> None:
        parent = data.draw(s.sampled_from(self._active(GIFU)))
        child, _ = self.regs[GIFU].birth(
            {
                "family_name": parent.family_name,
                "given_name": giv[0],
                "family_name_kana": parent.family_name_kana,
                "given_name_kana": giv[1],
                "birth_date": "2026-11-01",
                "sex": "女",
                "relationship": "子" if parent.is_head else "子の子",
            },
            household=parent.household,
        )
        self._track(GIFU, child)

    @precondition(lambda self: any(self._active(c) for c in (GIFU, CHIYODA)))
    @rule(data=s.data())
    def death(self, data: s.DataObject) -> None:
        code = data.draw(s.sampled_from([c for c in (GIFU, CHIYODA) if self._active(c)]))
        r = data.draw(s.sampled_from(self._active(code)))
        self.regs[code].death(r.handle, died_on="2026-11-15")
        self._refresh(code)

    @precondition(lambda self: bool(self._active(GIFU)))
    @rule(data=s.data())
    def move_within_household(self, data: s.DataObject) -> None:
        r = data.draw(s.sampled_from(self._active(GIFU)))
        town, block = data.draw(s.sampled_from([a for a in ADDRESSES[GIFU] if a != (r.address.town, r.address.block)]))
        self.regs[GIFU].move_within(r.handle, town=town, block=block, moved_on="2026-11-10", whole_household=True)
        self._refresh(GIFU)

    @precondition(lambda self: bool(self._active(GIFU)))
    @rule(data=s.data(), giv=s.sampled_from(GIVEN))
    def correct(self, data: s.DataObject, giv: tuple[str, str]) -> None:
        r = data.draw(s.sampled_from(self._active(GIFU)))
        if r.given_name == giv[0]:
            with pytest.raises(InvalidInput, match="changes nothing"):
                self.regs[GIFU].correct(r.handle, {"given_name": giv[0], "given_name_kana": giv[1]}, reason="誤記")
            return
        fixed = self.regs[GIFU].correct(r.handle, {"given_name": giv[0], "given_name_kana": giv[1]}, reason="誤記")
        self._track(GIFU, fixed)

    @precondition(lambda self: any(not r.is_head for r in self._active(GIFU)))
    @rule(data=s.data())
    def split_household(self, data: s.DataObject) -> None:
        r = data.draw(s.sampled_from([x for x in self._active(GIFU) if not x.is_head]))
        self.regs[GIFU].household_change([(r.handle, None, "世帯主")], changed_on="2026-11-10")
        self._refresh(GIFU)

    @precondition(lambda self: any(r.is_head and not r.moving_out for r in self._active(GIFU)))
    @rule(data=s.data(), crash=s.booleans())
    def move_to_chiyoda(self, data: s.DataObject, crash: bool) -> None:
        r = data.draw(s.sampled_from([x for x in self._active(GIFU) if x.is_head and not x.moving_out]))
        gifu, chiyoda = self.regs[GIFU], self.regs[CHIYODA]
        members = len([x for x in self._active(GIFU) if x.household == r.household])
        if members > 1:
            return  # a head moves away with the household; modelled per person here
        _, token, _ = gifu.move_out(r.handle, destination="東京都千代田区飯田橋2丁目3番4号", planned_on="2026-11-25")
        assert token
        if crash:
            # the destination crashed after creating its incoming record: a retry must finish the job
            chiyoda_dir = chiyoda.directory
            chiyoda.directory = _FailingCompletion(chiyoda_dir)
            with contextlib.suppress(ConnectionError):
                chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
            chiyoda.directory = chiyoda_dir
        res = chiyoda.move_in({"town": "飯田橋", "block": "2丁目3番4号"}, moved_on="2026-11-20", transfer=token)
        assert res.resident.status is Status.ACTIVE
        self._refresh(GIFU)
        self._refresh(CHIYODA)

    @precondition(lambda self: bool(self._active(GIFU)))
    @rule(data=s.data())
    def closed_record_is_immutable(self, data: s.DataObject) -> None:
        if not self.closed:
            return
        handle = data.draw(s.sampled_from(sorted(self.closed)))
        code = self.versions[handle][0]
        try:
            self.regs[code].death(handle, died_on="2026-11-16")
        except Conflict:
            pass
        else:  # pragma: no cover - a closed record accepted a procedure
            raise AssertionError("a closed record was changed")

    # --- invariants

    @invariant()
    def one_live_record_per_person(self) -> None:
        roots: list[bytes] = []
        for svc in self.regs.values():
            with svc.engine.connect() as conn:
                roots += [
                    bytes(x)
                    for x in conn.execute(
                        sa.select(st.resident.c.root).where(st.resident.c.status == Status.ACTIVE.value)
                    ).scalars()
                ]
        assert len(roots) == len(set(roots))

    @invariant()
    def history_is_complete_and_rebuilds_every_version(self) -> None:
        for handle, (code, snaps) in self.versions.items():
            svc = self.regs[code]
            with svc.engine.connect() as conn:
                rid = conn.execute(sa.select(st.resident.c.id).where(st.resident.c.handle == handle)).scalar_one()
                rows = conn.execute(
                    sa.select(st.history).where(st.history.c.resident_id == rid).order_by(st.history.c.version)
                ).all()
            entries = [st.history_from_row(row) for row in rows]
            newest = max(snaps)
            assert [h.version for h in entries] == list(range(1, newest + 1))
            # walk back from the newest state, undoing each change: every observed earlier version must come out
            state = dict(snaps[newest])
            for h in reversed(entries[1:]):
                for name, (old, new) in h.changes.items():
                    assert state[name] == new, (handle, name)
                    state[name] = old
                if h.version - 1 in snaps:
                    assert state == snaps[h.version - 1], (handle, h.version - 1)

    @invariant()
    def closed_records_never_change(self) -> None:
        for handle, snap in self.closed.items():
            _, snaps = self.versions[handle]
            assert snaps[max(snaps)] == snap

    @invariant()
    def households_have_at_most_one_head(self) -> None:
        for code in self.regs:
            heads: dict[str, int] = {}
            for r in self._active(code):
                if r.is_head:
                    heads[r.household] = heads.get(r.household, 0) + 1
            assert all(n == 1 for n in heads.values())


class _FailingCompletion:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def municipality(self, code: str) -> Any:
        origin = self.inner.municipality(code)

        class Wrapped:
            def fetch_transfer(self, *a: Any, **kw: Any) -> Any:
                return origin.fetch_transfer(*a, **kw)

            def complete_transfer(self, *a: Any, **kw: Any) -> None:
                raise ConnectionError("dropped")

        return Wrapped()


RegisterMachine.TestCase.settings = settings(
    max_examples=12 if PG_URL else 20,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestRegisterProperties = RegisterMachine.TestCase


# --- the household rules over every procedure ------------------------------------------------------------------

RELATIONSHIPS = ["世帯主", "妻", "子", "子の子", "同居人"]
DEST = {GIFU: "東京都千代田区飯田橋2丁目3番4号", CHIYODA: "岐阜県岐阜市藍川町18番地"}
ELSEWHERE = {GIFU: CHIYODA, CHIYODA: GIFU}
PLACES = {GIFU: ADDRESSES[GIFU], CHIYODA: [("飯田橋", "2丁目3番4号"), ("飯田橋", "3丁目1番1号")]}


def _rows(svc: RegisterService) -> dict[str, list[str]]:
    """Every row of every table of a register, as text (what "changed nothing" compares)."""
    out: dict[str, list[str]] = {}
    with svc.engine.connect() as conn:
        for table in st.metadata.sorted_tables:
            out[table.name] = sorted(repr(tuple(row)) for row in conn.execute(sa.select(table)).all())
    return out


class HouseholdMachine(RuleBasedStateMachine):
    """Property: random sequences of procedures — registration, birth, death, closure, move-out (within Japan and
    abroad) and its cancellation, move-in (hand-over, or from outside the network), move within, household change,
    correction — attempted on any record, valid or not.  A refused procedure changes nothing; after every accepted
    one each household keeps the rules of ``procedures.household_fault``:

    * at most one active head; every 続柄 is a valid relationship;
    * a head with a pending move-out has no member who stays;
    * no head only when two or more members remain and either all of them are moving out, or the head died (or
      was closed ex officio) in this step, or the household had no head before this step for that reason (the
      vacancy lasts until a household change names the new head); a sole member is the head.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp())
        self.namespace = f"t{uuid.uuid4().hex[:10]}_" if PG_URL else ""
        self.home = Home(root=self.tmp, db_url=PG_URL, namespace=self.namespace)
        directory = LocalDirectory(self.home, today=lambda: TODAY)
        self.regs = {
            code: create_register(self.home, code, actor=Actor("prop"), today=lambda: TODAY, directory=directory)
            for code in (GIFU, CHIYODA)
        }
        # (transfer token, municipality of origin) in issue order: tokens are random, their order must not be
        self.tokens: list[tuple[str, str]] = []
        self.vacant: set[str] = set()  # households without a head after the last step (a head died)
        self.vacated: set[str] = set()  # households whose head died or was closed in this step
        self.counter = 0

    teardown = RegisterMachine.teardown

    # --- helpers

    def _records(self, code: str) -> list[Resident]:
        svc = self.regs[code]
        with svc.engine.connect() as conn:
            return [svc._from_row(row) for row in conn.execute(svc._select().order_by(st.resident.c.id)).all()]

    def _households(self, code: str) -> list[str]:
        with self.regs[code].engine.connect() as conn:
            return list(conn.execute(sa.select(st.household.c.handle).order_by(st.household.c.id)).scalars())

    def _attempt(self, label: str, fn: Any) -> bool:
        before = {code: _rows(svc) for code, svc in self.regs.items()}
        try:
            fn()
        except SekishoError:
            after = {code: _rows(svc) for code, svc in self.regs.items()}
            assert after == before, "a refused procedure changed a register"
            event(f"{label}: refused")  # --hypothesis-show-statistics: both outcomes must occur
            return False
        event(f"{label}: accepted")
        return True

    def _pick(self, data: s.DataObject, code: str) -> Resident | None:
        records = self._records(code)
        return data.draw(s.sampled_from(records)) if records else None

    def _where(self, data: s.DataObject, code: str) -> tuple[str | None, tuple[str, str]]:
        """A household to join (and its address), or None for a new one."""
        households = self._households(code)
        hh = data.draw(s.sampled_from([None, *households]))
        place = data.draw(s.sampled_from(PLACES[code]))
        if hh is not None:
            at = [r for r in self._records(code) if r.household == hh and r.status is Status.ACTIVE]
            if at:
                place = (at[0].address.town, at[0].address.block)
        return hh, place

    def _person(self, giv: tuple[str, str], fam: tuple[str, str], **kw: str) -> dict[str, str]:
        self.counter += 1
        n = self.counter
        return person(
            family_name=fam[0],
            family_name_kana=fam[1],
            given_name=giv[0],
            given_name_kana=giv[1],
            birth_date=f"昭和{30 + n % 30}年{1 + n % 12}月{1 + n % 28}日",
            **kw,
        )

    # --- rules

    @initialize()
    def families(self) -> None:
        """A 3-person household (世帯主, 妻, 子) and a single person in each register to start from."""
        for code in self.regs:
            town, block = PLACES[code][0]
            head = self.regs[code].add(self._person(GIVEN[0], FAMILY[0], town=town, block=block))
            for rel, giv in (("妻", GIVEN[1]), ("子", GIVEN[2])):
                row = self._person(giv, FAMILY[0], town=town, block=block, relationship=rel)
                self.regs[code].add(row, household=head.household)
            town, block = PLACES[code][1]
            self.regs[code].add(self._person(GIVEN[3], FAMILY[1], town=town, block=block))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), rel=s.sampled_from(RELATIONSHIPS))
    def register(self, code: str, data: s.DataObject, rel: str) -> None:
        hh, (town, block) = self._where(data, code)
        row = self._person(data.draw(s.sampled_from(GIVEN)), data.draw(s.sampled_from(FAMILY)), town=town, block=block)
        row["relationship"] = rel if hh is not None else "世帯主"
        self._attempt("register", lambda: self.regs[code].add(row, household=hh))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), rel=s.sampled_from(["子", "子の子", "世帯主"]))
    def birth(self, code: str, data: s.DataObject, rel: str) -> None:
        households = self._households(code)
        if not households:
            return
        hh = data.draw(s.sampled_from(households))
        giv = data.draw(s.sampled_from(GIVEN))
        row = {
            "family_name": "髙橋",
            "given_name": giv[0],
            "family_name_kana": "タカハシ",
            "given_name_kana": giv[1],
            "birth_date": "2026-11-01",
            "sex": "女",
            "relationship": rel,
        }
        self._attempt("birth", lambda: self.regs[code].birth(row, household=hh))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), ex_officio=s.booleans())
    def death_or_closure(self, code: str, data: s.DataObject, ex_officio: bool) -> None:
        r = self._pick(data, code)
        if r is None:
            return
        svc = self.regs[code]
        if ex_officio:
            done = self._attempt("close", lambda: svc.close(r.handle, reason="職権消除", on="2026-11-15"))
        else:
            done = self._attempt("death", lambda: svc.death(r.handle, died_on="2026-11-15"))
        if done and r.is_head and r.status is Status.ACTIVE:
            self.vacated.add(r.household)

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), abroad=s.booleans())
    def move_out(self, code: str, data: s.DataObject, abroad: bool) -> None:
        r = self._pick(data, code)
        if r is None:
            return
        svc = self.regs[code]
        out: list[str | None] = []

        def go() -> None:
            _, token, _ = svc.move_out(
                r.handle,
                destination="アメリカ合衆国" if abroad else DEST[code],
                planned_on="2026-11-18",
                abroad=abroad,
            )
            out.append(token)

        if self._attempt("move-out abroad" if abroad else "move-out", go) and out[0] is not None:
            self.tokens.append((out[0], code))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data())
    def cancel_move_out(self, code: str, data: s.DataObject) -> None:
        moving = [r for r in self._records(code) if r.moving_out]
        r = data.draw(s.sampled_from(moving)) if moving else self._pick(data, code)
        if r is not None:
            self._attempt("cancel", lambda: self.regs[code].cancel_move_out(r.handle))

    @precondition(lambda self: bool(self.tokens))
    @rule(data=s.data(), rel=s.sampled_from(RELATIONSHIPS))
    def move_in_by_transfer(self, data: s.DataObject, rel: str) -> None:
        token, origin = data.draw(s.sampled_from(self.tokens))
        dest = ELSEWHERE[origin]
        hh, (town, block) = self._where(data, dest)
        row = {"town": town, "block": block, "relationship": rel if hh is not None else "世帯主"}
        self._attempt(
            "move-in transfer",
            lambda: self.regs[dest].move_in(row, moved_on="2026-11-20", household=hh, transfer=token),
        )

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), rel=s.sampled_from(RELATIONSHIPS))
    def move_in_from_abroad(self, code: str, data: s.DataObject, rel: str) -> None:
        hh, (town, block) = self._where(data, code)
        row = self._person(
            data.draw(s.sampled_from(GIVEN)),
            data.draw(s.sampled_from(FAMILY)),
            town=town,
            block=block,
            previous_address="アメリカ合衆国",
        )
        row["relationship"] = rel if hh is not None else "世帯主"
        self._attempt("move-in abroad", lambda: self.regs[code].move_in(row, moved_on="2026-11-10", household=hh))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), whole=s.booleans())
    def move_within(self, code: str, data: s.DataObject, whole: bool) -> None:
        r = self._pick(data, code)
        if r is None:
            return
        town, block = data.draw(s.sampled_from(PLACES[code]))
        self._attempt(
            "move-within",
            lambda: self.regs[code].move_within(
                r.handle, town=town, block=block, moved_on="2026-11-10", whole_household=whole
            ),
        )

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), n=s.integers(1, 2))
    def household_change(self, code: str, data: s.DataObject, n: int) -> None:
        records = self._records(code)
        if not records:
            return
        households = self._households(code)
        changes: list[tuple[str, str | None, str]] = []
        for _ in range(n):
            r = data.draw(s.sampled_from(records))
            target = data.draw(s.sampled_from([None, r.household, *households]))
            changes.append((r.handle, target, data.draw(s.sampled_from(RELATIONSHIPS))))
        self._attempt("household-change", lambda: self.regs[code].household_change(changes, changed_on="2026-11-10"))

    @rule(code=s.sampled_from([GIFU, CHIYODA]), data=s.data(), giv=s.sampled_from(GIVEN))
    def correct(self, code: str, data: s.DataObject, giv: tuple[str, str]) -> None:
        r = self._pick(data, code)
        if r is not None:
            fix = {"given_name": giv[0], "given_name_kana": giv[1]}
            self._attempt("correct", lambda: self.regs[code].correct(r.handle, fix, reason="誤記"))

    # --- invariants

    @invariant()
    def households_keep_their_rules(self) -> None:
        vacant: set[str] = set()
        for code in self.regs:
            records = self._records(code)
            assert not [r for r in records if r.status is Status.INCOMING], "a move-in was left half done"
            households: dict[str, list[Resident]] = {}
            for r in records:
                if r.status is Status.ACTIVE:
                    households.setdefault(r.household, []).append(r)
            for hh, members in households.items():
                assert all(parse_relationship(m.relationship) == m.relationship for m in members)
                heads = [m for m in members if m.is_head]
                staying = [m for m in members if not m.moving_out]
                assert len(heads) <= 1, "two heads"
                if heads:
                    assert not heads[0].moving_out or staying == [], "the head moves out, members stay"
                    continue
                assert len(members) >= 2, "a sole member who is not the head"
                if staying:
                    assert hh in self.vacant or hh in self.vacated, "no head, and no head died"
                    vacant.add(hh)
        self.vacant, self.vacated = vacant, set()


HouseholdMachine.TestCase.settings = settings(
    max_examples=12 if PG_URL else 25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestHouseholdRules = HouseholdMachine.TestCase
