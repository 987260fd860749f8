"""Synthetic traffic for the anomaly rules: weeks of normal work at many terminals, with labelled abuse mixed in.

Normal work is not made easy on purpose: families looked up together (bursts of 2-6 in minutes), overtime until
20:30, a stray lookup after 22:00, nightly batch terminals with thousands of persons, occasional refusals, a new
terminal without history, protected residents looked up now and then by entitled agencies.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sekisho.jp.clock import JST
from sekisho.policy.anomaly import Alert, Record


@dataclass(frozen=True)
class Episode:
    rule: str
    subject: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Desk:
    terminal: str
    requester: str
    kind: str
    action: str
    purposes: tuple[tuple[str, float], ...]  # purpose, weight
    per_day: int


DESKS = [
    *(
        Desk(
            f"pension-desk-{i:02d}",
            "pension",
            "agency",
            "identity-confirmation",
            (("pension.benefit", 0.995), ("pension.contribution", 0.005)),
            70,
        )
        for i in range(1, 9)
    ),
    *(
        Desk(f"tax-desk-{i:02d}", "tax", "agency", "identity-confirmation", (("tax.assessment", 1.0),), 50)
        for i in range(1, 6)
    ),
    *(
        Desk(
            f"city-clerk-{i:02d}",
            "131016",
            "clerk",
            "register-read",
            (("register.administration", 0.7), ("certificate.self", 0.295), ("certificate.third-party", 0.005)),
            60,
        )
        for i in range(1, 6)
    ),
    *(
        Desk(f"kenpo-desk-{i:02d}", "kyokai-kenpo", "agency", "identity-confirmation", (("health.kyokai", 1.0),), 40)
        for i in range(1, 3)
    ),
]
BATCH = Desk("pension-batch", "pension", "agency", "identity-confirmation", (("pension.benefit", 1.0),), 0)
START = datetime(2026, 9, 1, tzinfo=JST)


def _at(day: date, hour: float) -> datetime:
    return (datetime(day.year, day.month, day.day, tzinfo=JST) + timedelta(hours=hour)).astimezone(UTC)


def _rec(
    desk: Desk,
    at: datetime,
    *,
    purpose: str | None = None,
    count: int = 1,
    allow: bool = True,
    subject_ref: str | None = None,
    parent: str | None = None,
    kind: str | None = None,
) -> Record:
    rng_purpose = purpose or desk.purposes[0][0]
    return Record(
        at=at,
        requester=desk.requester,
        requester_kind=kind or desk.kind,
        action=desk.action,
        purpose=rng_purpose,
        terminal=desk.terminal,
        count=count,
        allow=allow,
        reasons=("basis-law",) if allow else ("item-not-allowed:household",),
        subject_ref=subject_ref,
        parent=parent,
    )


def normal_day(rng: random.Random, day: date, desks: list[Desk]) -> list[Record]:
    out: list[Record] = []
    if day.weekday() >= 5:
        return out
    for desk in desks:
        n = max(0, int(rng.gauss(desk.per_day, desk.per_day * 0.2)))
        end = 20.5 if rng.random() < 0.1 else 17.5  # overtime some days
        i = 0
        while i < n:
            at = _at(day, rng.uniform(8.5, end))
            purpose = rng.choices([p for p, _ in desk.purposes], [w for _, w in desk.purposes])[0]
            family = rng.choice([1, 1, 1, 1, 2, 3, 4, 6])  # a household looked up together
            for k in range(family):
                out.append(_rec(desk, at + timedelta(seconds=40 * k), purpose=purpose))
            i += family
        if rng.random() < 0.3:
            out.append(_rec(desk, _at(day, rng.uniform(9, 17)), allow=False))  # an occasional refusal
        if rng.random() < 0.02:
            out.append(_rec(desk, _at(day, 22 + rng.random())))  # one stray lookup after 22:00
    # the nightly batch: thousands of persons between 01:00 and 03:00
    for k in range(rng.randint(4, 10)):
        out.append(_rec(BATCH, _at(day, 1 + k * 0.2), count=rng.randint(400, 600)))
    # protected residents: looked up now and then by entitled agencies (recorded with their subject_ref)
    for p in range(6):
        if rng.random() < 0.04:
            out.append(_rec(DESKS[0], _at(day, rng.uniform(9, 17)), subject_ref=f"{p:032x}", parent="p" * 32))
    return out


def traffic(
    seed: int, *, baseline_days: int = 21, eval_days: int = 7
) -> tuple[list[Record], list[Record], list[Episode], datetime]:
    """(baseline records, evaluation records, labelled abuse episodes, start of the evaluation)."""
    rng = random.Random(seed)
    baseline: list[Record] = []
    for d in range(baseline_days):
        baseline += normal_day(rng, (START + timedelta(days=d)).date(), DESKS)
    eval_start_day = (START + timedelta(days=baseline_days)).date()
    records: list[Record] = []
    newcomer = Desk("pension-desk-99", "pension", "agency", "identity-confirmation", (("pension.benefit", 1.0),), 60)
    for d in range(eval_days):
        records += normal_day(rng, eval_start_day + timedelta(days=d), [*DESKS, newcomer])
    # workdays whose following night still falls inside the evaluated week
    workdays = [
        eval_start_day + timedelta(days=d)
        for d in range(eval_days - 1)
        if (eval_start_day + timedelta(days=d)).weekday() < 5
    ]
    episodes: list[Episode] = []
    victims = rng.sample([d for d in DESKS if d.kind != "batch"], 12)

    for desk in victims[:4]:  # "a nosy person with Excel": hundreds of lookups in minutes
        at = _at(rng.choice(workdays), rng.uniform(9, 16))
        n, span = rng.randint(80, 400), rng.uniform(5, 15)  # some below the floor: misses
        recs = [_rec(desk, at + timedelta(minutes=span * k / n)) for k in range(n)]
        records += recs
        episodes.append(Episode("bulk-lookup", desk.terminal, recs[0].at, recs[-1].at))
    for desk in victims[4:8]:  # a few lookups in the middle of the night
        day = rng.choice(workdays)
        recs = [_rec(desk, _at(day, rng.uniform(23, 26))) for _ in range(rng.randint(2, 8))]  # 2: below the rule
        recs.sort(key=lambda r: r.at)
        records += recs
        episodes.append(Episode("odd-hours", desk.terminal, recs[0].at, recs[-1].at))
    for desk in victims[8:11]:  # a purpose this terminal hardly ever uses, as a pretext, all day
        rare = min(desk.purposes, key=lambda p: p[1])[0]
        if desk.purposes[0][1] == 1.0:
            rare = {"tax": "tax.examination", "kyokai-kenpo": "health.other"}.get(desk.requester, "other.purpose")
        day = rng.choice(workdays)
        recs = sorted(
            (_rec(desk, _at(day, rng.uniform(9, 17)), purpose=rare) for _ in range(rng.randint(20, 35))),
            key=lambda r: r.at,
        )
        records += recs
        episodes.append(Episode("purpose-mix", desk.terminal, recs[0].at, recs[-1].at))
    probe = victims[11]  # someone probing what they may see: refusal after refusal
    at = _at(rng.choice(workdays), rng.uniform(9, 16))
    recs = [_rec(probe, at + timedelta(minutes=k * 1.2), allow=False) for k in range(rng.randint(22, 40))]
    records += recs
    episodes.append(Episode("refusal-burst", probe.terminal, recs[0].at, recs[-1].at))
    for p in range(3):  # someone trying again and again to find a protected resident
        ref = f"{100 + p:032x}"
        day0 = rng.choice(workdays[:3])
        recs = [
            _rec(
                DESKS[10 + p],
                _at(day0 + timedelta(days=k), rng.uniform(9, 17)),
                subject_ref=ref,
                parent="p" * 32,
                allow=False,
                kind="third-party",
            )
            for k in range(rng.randint(3, 5))
        ]
        records += recs
        episodes.append(Episode("protected-repeat", ref, recs[0].at, recs[-1].at))
    records.sort(key=lambda r: r.at)
    return baseline, records, episodes, _at(eval_start_day, 0)


def score(alerts: list[Alert], episodes: list[Episode]) -> tuple[int, int, int]:
    """(true-positive alerts, false-positive alerts, missed episodes)."""
    slack = timedelta(minutes=10)

    def hit(a: Alert, e: Episode) -> bool:
        return (
            a.rule == e.rule
            and a.subject == e.subject
            and a.window_start <= e.end + slack
            and e.start - slack <= a.window_end
        )

    tp = sum(1 for a in alerts if any(hit(a, e) for e in episodes))
    missed = sum(1 for e in episodes if not any(hit(a, e) for a in alerts))
    return tp, len(alerts) - tp, missed
