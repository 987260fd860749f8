"""The watchdog's anomaly rules over decision records (pure: records in, alerts out).

"With an 11 digit national ID on all of the lists, any nosy person with Excel will be able to profile people."
Sekisho has no such number, but a clerk's terminal can still look people up one by one.  The rules compare each
terminal (and each agency) with its *own* past — a baseline of the preceding weeks — so that a batch terminal that
enrols thousands every night is not an alarm, while a counter terminal that suddenly looks up hundreds is:

* ``bulk-lookup``: persons looked up in any 10-minute window above max(100, 3 × the terminal's 99th percentile);
* ``odd-hours``: 3 or more persons looked up between 22:00 and 06:00 Japan time by a terminal whose baseline has
  (almost) no night work;
* ``purpose-mix``: a purpose the terminal (or agency) hardly ever uses (< 2 % of its baseline) suddenly makes up at
  least 20 % of a day's lookups (and at least 5 of them; 50 for a whole agency);
* ``protected-repeat``: 3 or more requests about one protected resident within 30 days (counted by the opaque
  ``subject_ref``, never the person), and ``protected-named``: any request by a requester a measure names;
* ``refusal-burst``: 20 or more refusals for one terminal within an hour (someone probing what they may see).

Records carry no personal data; alerts carry a terminal id, an agency id or a subject_ref, and codes.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sekisho.jp.clock import JST  # the policy reads hours in Japan

#: what counts as looking someone up (enrolment batches and change notices are the system's own traffic)
LOOKUP_ACTIONS: Final = frozenset({"identity-confirmation", "register-read", "certificate", "cross-reference"})


@dataclass(frozen=True, slots=True)
class Record:
    at: datetime
    requester: str
    requester_kind: str
    action: str
    purpose: str
    terminal: str | None
    count: int
    allow: bool
    reasons: tuple[str, ...] = ()
    subject_ref: str | None = None
    parent: str | None = None

    @property
    def lookup(self) -> bool:
        return self.parent is None and self.action in LOOKUP_ACTIONS


def record_of(m: Mapping[str, Any]) -> Record:
    at = m["at"]
    return Record(
        at=at if at.tzinfo is not None else at.replace(tzinfo=UTC),
        requester=m["requester"],
        requester_kind=m["requester_kind"],
        action=m["action"],
        purpose=m["purpose"],
        terminal=m["terminal"],
        count=int(m["count"]),
        allow=bool(m["allow"]),
        reasons=tuple((m["reasons"] or "").split()),
        subject_ref=m["subject_ref"],
        parent=m["parent"],
    )


@dataclass(frozen=True, slots=True)
class Config:
    baseline: timedelta = timedelta(days=28)
    bulk_window: timedelta = timedelta(minutes=10)
    bulk_floor: int = 100
    bulk_factor: float = 3.0
    night_from: int = 22  # JST hour
    night_to: int = 6
    odd_min: int = 3
    odd_share: float = 0.01
    mix_rare_share: float = 0.02
    mix_min_count: int = 5
    mix_min_share: float = 0.2
    mix_min_baseline: int = 50
    mix_agency_min_count: int = 50
    protected_window: timedelta = timedelta(days=30)
    protected_min: int = 3
    refusal_window: timedelta = timedelta(hours=1)
    refusal_min: int = 20


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    severity: str
    scope: str
    subject: str
    window_start: datetime
    window_end: datetime
    observed: int
    threshold: int
    details: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.scope}|{self.subject}|{int(self.window_start.timestamp())}"


def detect(records: Sequence[Record], *, baseline: Sequence[Record], config: Config | None = None) -> list[Alert]:
    """Every alert the rules raise over ``records``, judged against ``baseline`` (earlier records)."""
    cfg = config or Config()
    records = sorted(records, key=lambda r: r.at)
    if not records:
        return []
    # an episode may straddle the start of the window (a night, a burst): look back over the tail of the baseline,
    # and report only what ends inside the window (a finding already reported has the same key and is not stored
    # twice)
    start = records[0].at
    tail = sorted((r for r in baseline if r.at >= start - timedelta(hours=12)), key=lambda r: r.at)
    alerts: list[Alert] = []
    alerts += [a for a in _bulk([*tail, *records], baseline, cfg) if a.window_end >= start]
    alerts += [a for a in _odd_hours([*tail, *records], baseline, cfg) if a.window_end >= start]
    alerts += _purpose_mix(records, baseline, cfg)
    alerts += _protected(records, baseline, cfg)
    alerts += _refusals(records, cfg)
    return alerts


def _by_terminal(records: Iterable[Record]) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        if r.terminal is not None and r.lookup:
            out[r.terminal].append(r)
    return out


def _percentile(values: Sequence[int], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return float(s[min(len(s) - 1, math.ceil(q * len(s)) - 1)])


def _bulk(records: Sequence[Record], baseline: Sequence[Record], cfg: Config) -> list[Alert]:
    width = cfg.bulk_window.total_seconds()
    history: dict[str, list[int]] = {}
    for terminal, rs in _by_terminal(baseline).items():
        buckets: Counter[int] = Counter()
        for r in rs:
            buckets[int(r.at.timestamp() // width)] += r.count
        history[terminal] = list(buckets.values())
    alerts: list[Alert] = []
    for terminal, rs in _by_terminal(records).items():
        threshold = max(cfg.bulk_floor, math.ceil(cfg.bulk_factor * _percentile(history.get(terminal, []), 0.99)))
        lo, total = 0, 0
        episode: list[Any] | None = None  # [start, end, max]
        for r in rs:
            total += r.count
            while rs[lo].at <= r.at - cfg.bulk_window:
                total -= rs[lo].count
                lo += 1
            if total > threshold:
                if episode is not None and rs[lo].at <= episode[1]:
                    episode[1], episode[2] = r.at, max(episode[2], total)
                else:
                    if episode is not None:
                        alerts.append(_bulk_alert(terminal, episode, threshold))
                    episode = [rs[lo].at, r.at, total]
        if episode is not None:
            alerts.append(_bulk_alert(terminal, episode, threshold))
    return alerts


def _bulk_alert(terminal: str, episode: list[Any], threshold: int) -> Alert:
    return Alert("bulk-lookup", "high", "terminal", terminal, episode[0], episode[1], episode[2], threshold)


def _night(at: datetime, cfg: Config) -> date | None:
    """The JST date the night began on, or None in the daytime."""
    local = at.astimezone(JST)
    if local.hour >= cfg.night_from:
        return local.date()
    if local.hour < cfg.night_to:
        return local.date() - timedelta(days=1)
    return None


def _odd_hours(records: Sequence[Record], baseline: Sequence[Record], cfg: Config) -> list[Alert]:
    share: dict[str, float] = {}
    for terminal, rs in _by_terminal(baseline).items():
        total = sum(r.count for r in rs)
        night = sum(r.count for r in rs if _night(r.at, cfg) is not None)
        share[terminal] = night / total if total else 0.0
    alerts: list[Alert] = []
    for terminal, rs in _by_terminal(records).items():
        if share.get(terminal, 0.0) >= cfg.odd_share:
            continue  # this terminal works nights (a batch or an emergency desk)
        nights: dict[date, list[Record]] = defaultdict(list)
        for r in rs:
            n = _night(r.at, cfg)
            if n is not None:
                nights[n].append(r)
        for _n, night_rs in sorted(nights.items()):
            observed = sum(r.count for r in night_rs)
            if observed >= cfg.odd_min:
                alerts.append(
                    Alert(
                        "odd-hours",
                        "medium",
                        "terminal",
                        terminal,
                        night_rs[0].at,
                        night_rs[-1].at,
                        observed,
                        cfg.odd_min,
                    )
                )
    return alerts


def _mix(
    scope: str,
    key: str,
    rs: Sequence[Record],
    base: Sequence[Record],
    cfg: Config,
    min_count: int,
) -> list[Alert]:
    base_total = sum(r.count for r in base)
    if base_total < cfg.mix_min_baseline:
        return []  # no pattern yet to deviate from
    base_by: Counter[str] = Counter()
    for r in base:
        base_by[r.purpose] += r.count
    days: dict[date, list[Record]] = defaultdict(list)
    for r in rs:
        days[r.at.astimezone(JST).date()].append(r)
    alerts: list[Alert] = []
    for _day, day_rs in sorted(days.items()):
        total = sum(r.count for r in day_rs)
        by: Counter[str] = Counter()
        for r in day_rs:
            by[r.purpose] += r.count
        for purpose, n in sorted(by.items()):
            if base_by[purpose] / base_total < cfg.mix_rare_share and n >= min_count and n / total >= cfg.mix_min_share:
                first = next(r.at for r in day_rs if r.purpose == purpose)
                last = [r.at for r in day_rs if r.purpose == purpose][-1]
                # the purpose itself is a public task code, but it stays out of the alert: details are codes only
                alerts.append(Alert("purpose-mix", "medium", scope, key, first, last, n, min_count, ("rare-purpose",)))
    return alerts


def _purpose_mix(records: Sequence[Record], baseline: Sequence[Record], cfg: Config) -> list[Alert]:
    alerts: list[Alert] = []
    base_t = _by_terminal(baseline)
    for terminal, rs in _by_terminal(records).items():
        alerts += _mix("terminal", terminal, rs, base_t.get(terminal, []), cfg, cfg.mix_min_count)
    flagged = {a.subject for a in alerts}

    def by_agency(rs: Iterable[Record]) -> dict[str, list[Record]]:
        out: dict[str, list[Record]] = defaultdict(list)
        for r in rs:
            if r.requester_kind == "agency" and r.lookup:
                out[r.requester].append(r)
        return out

    base_a = by_agency(baseline)
    for agency, rs in by_agency(records).items():
        if any(r.terminal in flagged for r in rs):
            continue  # one terminal explains it: that alert says more
        alerts += _mix("agency", agency, rs, base_a.get(agency, []), cfg, cfg.mix_agency_min_count)
    return alerts


def _protected(records: Sequence[Record], baseline: Sequence[Record], cfg: Config) -> list[Alert]:
    alerts: list[Alert] = []
    if not records:
        return alerts
    start = records[0].at
    recent = [r for r in baseline if r.at >= start - cfg.protected_window]
    per_subject: dict[str, list[Record]] = defaultdict(list)
    for r in [*recent, *records]:
        if r.subject_ref is not None and r.requester_kind not in ("resident", "clerk"):
            per_subject[r.subject_ref].append(r)
    for ref, rs in per_subject.items():
        rs.sort(key=lambda r: r.at)
        if len(rs) >= cfg.protected_min and rs[-1].at >= start:
            alerts.append(
                Alert(
                    "protected-repeat",
                    "high",
                    "subject",
                    ref,
                    rs[0].at,
                    rs[-1].at,
                    len(rs),
                    cfg.protected_min,
                    tuple(sorted({f"kind:{r.requester_kind}" for r in rs})),
                )
            )
    for r in records:
        if "protected-requester-named" in r.reasons and r.subject_ref is not None:
            alerts.append(Alert("protected-named", "high", "subject", r.subject_ref, r.at, r.at, 1, 1))
    return alerts


def _refusals(records: Sequence[Record], cfg: Config) -> list[Alert]:
    alerts: list[Alert] = []
    for terminal, rs in _by_terminal(records).items():
        refused = [r for r in rs if not r.allow]
        lo = 0
        episode: list[Any] | None = None
        for i, r in enumerate(refused):
            while refused[lo].at <= r.at - cfg.refusal_window:
                lo += 1
            n = i - lo + 1
            if n >= cfg.refusal_min:
                if episode is not None and refused[lo].at <= episode[1]:
                    episode[1], episode[2] = r.at, max(episode[2], n)
                else:
                    if episode is not None:
                        alerts.append(_refusal_alert(terminal, episode, cfg))
                    episode = [refused[lo].at, r.at, n]
        if episode is not None:
            alerts.append(_refusal_alert(terminal, episode, cfg))
    return alerts


def _refusal_alert(terminal: str, episode: list[Any], cfg: Config) -> Alert:
    return Alert("refusal-burst", "medium", "terminal", terminal, episode[0], episode[1], episode[2], cfg.refusal_min)
