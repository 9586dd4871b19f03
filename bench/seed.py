"""A Tend that has run for two years, written into PostgreSQL with COPY: the data behind
bench/dashboard.py (and, at a tiny size, tests/integration/test_bench_dashboard_seed.py).

    seed(database_url, Shape(readers=1_000_000, deliveries=10_000_000))

The shape: readers who signed up over the last two years, more of them lately (85.8%
active, 8% unsubscribed, 5% pending, 1% bounced, 0.2% complained), with names, a few
dozen time zones and their consent records; the demo course, launched twelve weeks ago,
with each confirmed reader's lessons so far (one delivery per lesson reached) and the
next one due over the coming weeks; the newsletter's list, and enough of its issues over
the last twelve weeks (one delivery per issue and member, in waves by time zone) to bring
the deliveries to the number asked, the newest issue cut where that number is reached;
a confirmation for every reader; provider events (a tenth of the deliveries by default)
and suppressions for the readers who bounced or complained.

Everything happens in one transaction: empty Tend's tables, drop their secondary indexes,
unique and foreign-key constraints (PostgreSQL builds an index from sorted data far
faster than it updates one row by row), COPY ... FREEZE each table from generated text,
put the indexes and constraints back exactly as they were (their definitions are read
from the catalog first, so a migration's new index is kept too), move the sequences past
the ids written, commit, ANALYZE. A failure part way leaves the database as it was.

Delivery ids follow time, day by day, as a real Tend's do. The random numbers come from
`Shape.seed`: the same shape gives the same data.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import heapq
import random
import tempfile
import time
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import IO, Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy.engine import make_url

from core.migrate import upgrade
from core.models import Base
from courses.model import Catalog
from web.forms import CONSENT_VERSION

DAY = 86_400
COURSE = "softening-sessions"
NEWSLETTER = "remember-and-reclaim"
YEARS_OF_READERS = 730  # days
COURSE_LAUNCH = 84  # days ago
ISSUE_WINDOW = 86  # days: issues go back this far at most
UNSET = "\\N"  # NULL in COPY's text format

# (status, share) in the order they are drawn; active takes what is left.
STATUSES = [("pending", 0.05), ("unsubscribed", 0.08), ("bounced", 0.01), ("complained", 0.002)]
PENDING, UNSUBSCRIBED, BOUNCED, COMPLAINED, ACTIVE = range(5)
STATUS_NAMES = ["pending", "unsubscribed", "bounced", "complained", "active"]

FIRST_NAMES = [
    "Maria", "Anna", "James", "John", "Sarah", "David", "Laura", "Michael", "Emma", "Daniel",
    "Olivia", "Thomas", "Sophie", "Lucas", "Chloe", "Noah", "Amelia", "Liam", "Grace", "Ethan",
    "Hannah", "Samuel", "Julia", "Benjamin", "Zoë", "José", "Siobhán", "Łukasz", "Aiko", "Kenji",
    "Priya", "Arjun", "Fatima", "Omar", "Ingrid", "Lars", "Camille", "Hugo", "Elena", "Mateo",
    "Nadia", "Yusuf", "Mei", "Wei", "Ama", "Kwame", "Isabel", "Pedro", "Freya", "Oscar",
]  # fmt: skip
LAST_NAMES = [
    "smith", "garcia", "nguyen", "kim", "mueller", "rossi", "dubois", "kowalski", "tanaka",
    "silva", "johnson", "brown", "martin", "lopez", "wilson", "andersen", "ivanova", "okafor",
    "haddad", "patel", "cohen", "murphy", "novak", "santos", "fischer", "moreau", "larsen",
    "yamamoto", "chen", "walker", "osei", "ferreira", "rahman", "schmidt", "bianchi", "reyes",
]  # fmt: skip
DOMAINS = ["example.org", "example.com", "example.net", "mail.example.org", "post.example.com"]
# (zone, weight): where readers live, a few dozen places, most in a handful.
ZONES = [
    ("America/New_York", 16), ("America/Chicago", 8), ("America/Denver", 3),
    ("America/Los_Angeles", 10), ("America/Toronto", 3), ("America/Vancouver", 1),
    ("America/Mexico_City", 2), ("America/Sao_Paulo", 3), ("America/Bogota", 1),
    ("America/Argentina/Buenos_Aires", 1), ("America/Halifax", 1), ("America/Anchorage", 1),
    ("Pacific/Honolulu", 1), ("Europe/London", 9), ("Europe/Dublin", 2), ("Europe/Paris", 5),
    ("Europe/Berlin", 5), ("Europe/Madrid", 2), ("Europe/Rome", 2), ("Europe/Amsterdam", 2),
    ("Europe/Stockholm", 1), ("Europe/Warsaw", 1), ("Europe/Athens", 1), ("Europe/Istanbul", 1),
    ("Africa/Lagos", 1), ("Africa/Nairobi", 1), ("Africa/Johannesburg", 1), ("Asia/Dubai", 1),
    ("Asia/Kolkata", 3), ("Asia/Singapore", 1), ("Asia/Shanghai", 1), ("Asia/Tokyo", 2),
    ("Asia/Seoul", 1), ("Australia/Sydney", 3), ("Australia/Perth", 1),
    ("Pacific/Auckland", 1), ("UTC", 2),
]  # fmt: skip
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
    "Mobile Safari/537.36",
]
SOURCES = [("hosted form", 0.55), ("embedded form", 0.3), ("api", 0.05), ("import: list", 0.1)]
LEAVING = [("one-click", 0.5), ("unsubscribe page", 0.3), ("preferences page", 0.12),
           ("sendgrid unsubscribe", 0.05), ("operator:admin@example.org", 0.03)]  # fmt: skip
FAILURES = [
    "421 4.7.0 Try again later, closing connection",
    "HTTP 503 from SendGrid: service unavailable",
    "timed out after 30 s waiting for SendGrid",
    "HTTP 400 from SendGrid: invalid reply_to",
]
BOUNCE = "550 5.1.1 The email account that you tried to reach does not exist"
ISSUE_TITLES = [
    "The pause before the answer", "Small mercies", "When the inner critic gets loud",
    "A letter to your younger self", "Rest is not a reward", "The kindness of enough",
    "Holding two things at once", "Noticing without fixing", "Soft hands, steady breath",
    "What the body remembers", "Saying no gently", "The long exhale", "Company in the dark",
    "Beginning again", "The ordinary day", "Permission to be slow",
]  # fmt: skip


@dataclass(frozen=True)
class Shape:
    readers: int = 1_000_000
    deliveries: int = 10_000_000  # confirmations and lessons first; issues fill the rest
    events: int | None = None  # provider events; a tenth of the deliveries if None
    seed: int = 20261126


@dataclass
class Seeded:
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # per step, in order
    cpu_seconds: float = 0.0  # of this process (generating the rows), for a busy machine
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())


class Progress:
    """Rows written so far and their rate, printed every few seconds and at the end."""

    def __init__(self, table: str, say: Callable[[str], None], every: float = 5.0) -> None:
        self.table, self.say, self.every = table, say, every
        self.rows = 0
        self.started = self.shown = time.perf_counter()

    def add(self, rows: int) -> None:
        self.rows += rows
        now = time.perf_counter()
        if now - self.shown >= self.every:
            self.shown = now
            self.say(f"  {self.table}: {self.rows:,} rows, {self.rate():,.0f} rows/s")

    def rate(self) -> float:
        return self.rows / max(time.perf_counter() - self.started, 1e-9)


def stamps() -> Callable[[int], str]:
    """Epoch seconds -> 'YYYY-MM-DD HH:MM:SS' (UTC, as UTCDateTime stores it), from a
    table of days and one of the 86,400 times of a day: formatting a datetime for each of
    thirty million stamps would cost more than everything else here."""
    days: dict[int, str] = {}
    clock = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    epoch = date(1970, 1, 1)

    def stamp(seconds: int) -> str:
        day, second = divmod(seconds, DAY)
        head = days.get(day)
        if head is None:
            head = days[day] = (epoch + timedelta(days=day)).isoformat() + " "
        return head + clock[second]

    return stamp


def pick(rng: random.Random, shares: list[tuple[str, float]]) -> str:
    roll = rng.random()
    for value, share in shares:
        roll -= share
        if roll < 0:
            return value
    return shares[-1][0]


@dataclass
class Broadcast:
    id: int
    issue: str
    subject: str
    day: date
    send_at: int
    waves: list[tuple[int, list[int]]]  # (due, zone indexes), earliest first
    written: int = 0
    last_wave_done: int = -1  # index of the last wave written whole
    last_ids: dict[int, int] = field(default_factory=dict)  # wave -> last reader id
    last_at: int = 0


class World:
    """The generated readers, held compactly (one small array per attribute) so that the
    deliveries, written after, can follow each reader's story."""

    def __init__(self, shape: Shape, catalog: Catalog, now: int) -> None:
        self.shape, self.now = shape, now
        self.rng = random.Random(shape.seed)
        self.stamp = stamps()
        course = catalog.courses[COURSE]
        newsletter = catalog.newsletters[NEWSLETTER]
        self.lessons = [lesson.slug for lesson in course.lessons]
        self.course_version = course.version
        self.course_list, self.news_list = course.list, newsletter.list
        self.news_slug = newsletter.slug
        self.send_at = newsletter.send_at
        self.launch = now - COURSE_LAUNCH * DAY
        n = shape.readers
        self.created = array("q", bytes(8 * n))
        self.confirmed = array("q", bytes(8 * n))
        self.stop = array("q", bytes(8 * n))  # when mail stopped (left, bounced...); 0: never
        self.status = bytearray(n)
        self.first = bytearray(n)
        self.last = bytearray(n)
        self.domain = bytearray(n)
        self.named = bytearray(n)
        self.zone = bytearray(n)
        self.channel: dict[int, str] = {}  # unsubscribe channel of readers who left
        self.news_join = array("q", bytes(8 * n))  # 0: not on the newsletter's list
        self.start = array("q", bytes(8 * n))  # course start; 0: not enrolled
        self.pace = bytearray(n)
        self.reached = bytearray(n)  # lessons sent so far (= position)
        self.enrollment = array("i", bytes(4 * n))
        self.enrollments = 0
        self.counts: dict[str, int] = defaultdict(int)

    def email(self, i: int) -> str:
        first = FIRST_ASCII[self.first[i]]
        return f"{first}.{LAST_NAMES[self.last[i]]}{i + 1}@{DOMAINS[self.domain[i]]}"

    # -- readers -------------------------------------------------------------------------

    def subscribers(self) -> Iterator[str]:
        rng, stamp, now, n = self.rng, self.stamp, self.now, self.shape.readers
        # More readers lately: a reader's age is the window times u^1.6, oldest first, so
        # that ids follow signup time as they do in a real table.
        ages = sorted(
            (YEARS_OF_READERS * DAY * rng.random() ** 1.6 for _ in range(n)), reverse=True
        )
        zone_weights = list(_cumulative([weight for _, weight in ZONES]))
        for i in range(n):
            created = now - 60 - int(ages[i])
            self.created[i] = created
            roll = rng.random()
            status = ACTIVE
            for code, (_, share) in enumerate(STATUSES):
                roll -= share
                if roll < 0:
                    status = code
                    break
            self.status[i] = status
            first = self.first[i] = int(rng.random() * len(FIRST_NAMES))
            self.last[i] = int(rng.random() * len(LAST_NAMES))
            self.domain[i] = int(rng.random() * len(DOMAINS))
            named = self.named[i] = rng.random() < 0.75
            zone = self.zone[i] = bisect.bisect(zone_weights, rng.random() * zone_weights[-1])
            source = pick(rng, SOURCES)
            version = "import" if source.startswith("import") else CONSENT_VERSION
            agent = AGENTS[int(rng.random() * len(AGENTS))]
            ip = f"198.51.100.{int(rng.random() * 254) + 1}"
            roll = rng.random()
            wanted = UNSET if roll < 0.8 else '["softening-sessions"]' if roll < 0.92 else (
                '["remember-and-reclaim"]'
            )  # fmt: skip
            confirmed = stop = 0
            if status != PENDING:
                confirmed = min(created + 30 + int(rng.random() * 6 * 3600), now - 30)
                self.confirmed[i] = confirmed
                if status != ACTIVE:
                    stop = confirmed + 1 + int((now - confirmed - 1) * rng.random())
                    self.stop[i] = stop
                    if status == UNSUBSCRIBED:
                        self.channel[i] = pick(rng, LEAVING)
                    else:
                        self.channel[i] = "sendgrid " + (
                            "bounce" if status == BOUNCED else "spamreport"
                        )
                self._enrol(i, wanted != '["remember-and-reclaim"]')
                if wanted != '["softening-sessions"]':
                    self.news_join[i] = confirmed
            uid = base64.urlsafe_b64encode((i + 1).to_bytes(5, "big") + rng.randbytes(11))
            yield (
                "\t".join(
                    (
                        str(i + 1),
                        uid.decode().rstrip("="),
                        self.email(i),
                        FIRST_NAMES[first] if named else UNSET,
                        ZONES[zone][0],
                        STATUS_NAMES[status],
                        stamp(created),
                        stamp(created),
                        ip,
                        agent,
                        source,
                        version,
                        wanted,
                        stamp(confirmed) if confirmed else UNSET,
                        f"198.51.100.{int(rng.random() * 254) + 1}" if confirmed else UNSET,
                        AGENTS[int(rng.random() * len(AGENTS))] if confirmed else UNSET,
                        stamp(stop) if stop else UNSET,
                        self.channel.get(i, UNSET),
                    )
                )
                + "\n"
            )

    def _enrol(self, i: int, wants_course: bool) -> None:
        """The reader's place in the course, if they were enrolled: they began on
        confirming, or, if they came before the course, some day since its launch."""
        rng, confirmed, stop = self.rng, self.confirmed[i], self.stop[i]
        if not wants_course:
            return
        if confirmed >= self.launch:
            start = confirmed + 5 + int(rng.random() * 120)
        elif rng.random() < 0.85:
            start = self.launch + int(rng.random() * (self.now - self.launch))
        else:
            return
        until = stop or self.now
        if start >= until:
            return
        pace = 2 if rng.random() < 0.06 else 1
        reached = min(len(self.lessons), 1 + (until - start) // (14 * pace * DAY))
        self.start[i], self.pace[i], self.reached[i] = start, pace, reached
        self.enrollments += 1
        self.enrollment[i] = self.enrollments

    def enrollment_rows(self) -> Iterator[str]:
        rng, stamp, now, total = self.rng, self.stamp, self.now, len(self.lessons)
        for i in range(self.shape.readers):
            number = self.enrollment[i]
            if not number:
                continue
            start, pace, reached = self.start[i], self.pace[i], self.reached[i]
            interval = 14 * pace * DAY
            due = completed = paused = UNSET
            if reached == total:
                state, completed = "completed", stamp(start + (total - 1) * interval)
            elif self.stop[i]:
                state = "cancelled"
            elif rng.random() < 0.04:
                state = "paused"
                if rng.random() < 0.7:
                    paused = stamp(now + DAY + int(rng.random() * 27 * DAY))
            else:
                state, due = "active", stamp(start + reached * interval)
            yield (
                f"{number}\t{i + 1}\t{COURSE}\t{state}\t{stamp(start)}\t{reached}\t1\t{due}\t"
                f"{completed}\t{paused}\t{pace}\t{self.course_version}\n"
            )

    def membership_rows(self) -> Iterator[str]:
        stamp, number = self.stamp, 0
        for i in range(self.shape.readers):
            left = stamp(self.stop[i]) if self.stop[i] else UNSET
            if self.enrollment[i]:
                number += 1
                yield f"{number}\t{i + 1}\t{self.course_list}\t{stamp(self.start[i])}\t{left}\n"
            if self.news_join[i]:
                number += 1
                yield f"{number}\t{i + 1}\t{self.news_list}\t{stamp(self.news_join[i])}\t{left}\n"

    def suppression_rows(self) -> Iterator[str]:
        stamp, number = self.stamp, 0
        reasons = {BOUNCED: "bounce", COMPLAINED: "complaint"}
        for i in range(self.shape.readers):
            reason = reasons.get(self.status[i])
            if reason is None and self.channel.get(i) == "sendgrid unsubscribe":
                reason = "unsubscribe"
            if reason is not None:
                number += 1
                at = stamp(self.stop[i])
                yield f"{number}\t{self.email(i)}\t{UNSET}\t{reason}\tsendgrid\t{at}\n"
        # Readers who asked to be erased: only a keyed hash of the address remains.
        for n in range(max(1, self.shape.readers // 300)):
            number += 1
            digest = hashlib.sha256(f"erased-{self.shape.seed}-{n}".encode()).hexdigest()
            at = stamp(self.now - int(self.rng.random() * YEARS_OF_READERS * DAY))
            yield f"{number}\t{UNSET}\t{digest}\terased\treader\t{at}\n"

    # -- issues --------------------------------------------------------------------------

    def plan_issues(self) -> list[Broadcast]:
        """Enough issues, evenly spaced over the last twelve weeks and ending yesterday, for
        their deliveries (one per member at the time) to fill what the confirmations and
        lessons leave of the deliveries asked for."""
        lessons = sum(self.reached)
        budget = self.shape.deliveries - self.shape.readers - lessons
        self.issue_budget = max(budget, 0)
        if budget <= 0:
            return []
        joins = sorted(self.news_join[i] for i in range(self.shape.readers) if self.news_join[i])
        lefts = sorted(
            self.stop[i] for i in range(self.shape.readers) if self.news_join[i] and self.stop[i]
        )
        last = (datetime.fromtimestamp(self.now, UTC) - timedelta(days=1)).date()

        def days(count: int) -> list[date]:
            spacing = ISSUE_WINDOW / count
            return [last - timedelta(days=round(j * spacing)) for j in range(count)][::-1]

        def members(day: date) -> int:
            noon = int(datetime.combine(day, clock_time(12), UTC).timestamp())
            return bisect.bisect(joins, noon) - bisect.bisect(lefts, noon)

        count = next(
            (k for k in range(1, ISSUE_WINDOW + 1) if sum(map(members, days(k))) >= budget * 1.03),
            ISSUE_WINDOW,
        )
        zones = [ZoneInfo(name) for name, _ in ZONES]
        planned = []
        for number, day in enumerate(days(count), start=1):
            by_due: dict[int, list[int]] = defaultdict(list)
            for index, zone in enumerate(zones):
                local = datetime.combine(day, self.send_at, tzinfo=zone)
                by_due[int(local.timestamp())].append(index)
            waves = sorted(by_due.items())
            title = ISSUE_TITLES[(number - 1) % len(ISSUE_TITLES)]
            round_ = (number - 1) // len(ISSUE_TITLES)
            words = "".join(c for c in title.lower() if c.isalnum() or c == " ").split()
            slug = "-".join(words) + (f"-{round_ + 1}" if round_ else "")
            earliest = datetime.combine(day, self.send_at, tzinfo=ZoneInfo("Pacific/Kiritimati"))
            planned.append(
                Broadcast(
                    id=number,
                    issue=f"{self.news_slug}/{slug}",
                    subject=title,
                    day=day,
                    send_at=int(earliest.timestamp()),
                    waves=waves,
                )
            )
        return planned

    def broadcast_rows(self, planned: list[Broadcast]) -> Iterator[str]:
        stamp = self.stamp
        for b in _begun(planned):
            done = b.last_wave_done == len(b.waves) - 1
            status, finished = ("sent", stamp(b.last_at)) if done else ("sending", UNSET)
            yield (
                f"{b.id}\t{self.news_list}\t{b.issue}\t{b.subject}\t{status}\t{stamp(b.send_at)}"
                f"\t0\t{stamp(b.send_at)}\t{finished}\n"
            )

    def wave_rows(self, planned: list[Broadcast]) -> Iterator[str]:
        stamp, number = self.stamp, 0
        for b in _begun(planned):
            for index, (due, zones) in enumerate(b.waves):
                number += 1
                names = ", ".join(f'"{ZONES[z][0]}"' for z in sorted(zones, key=_zone_name))
                finished = stamp(due + 900) if index <= b.last_wave_done else UNSET
                last = b.last_ids.get(index, 0)
                yield f"{number}\t{b.id}\t{stamp(due)}\t[{names}]\t{last}\t{finished}\n"

    # -- deliveries and events -----------------------------------------------------------

    def delivery_rows(self, planned: list[Broadcast], events: IO[str]) -> Iterator[str]:
        """Every delivery, day by day (so ids follow time): the day's confirmations, its
        lessons, its issues. Writes the events that go with them to `events`."""
        rng, now, n = self.rng, self.now, self.shape.readers
        writer = _Deliveries(self, events)
        starts: dict[tuple[int, int], list[int]] = defaultdict(list)  # (pace, day) -> readers
        for i in range(n):
            if self.enrollment[i]:
                starts[(self.pace[i], self.start[i] // DAY)].append(i)
        by_day: dict[int, list[Broadcast]] = defaultdict(list)
        for b in planned:
            by_day[b.waves[0][0] // DAY].append(b)
        members: list[array[int]] = [array("i") for _ in ZONES]
        for i in range(n):
            if self.news_join[i]:
                members[self.zone[i]].append(i)
        hashes = {slug: _hash(f"lesson {slug}") for slug in self.lessons}
        budget = self.issue_budget
        reader = 0
        first_day = self.created[0] // DAY if n else now // DAY
        for day in range(first_day, now // DAY + 1):
            while reader < n and self.created[reader] // DAY == day:
                at = self.created[reader] + 1 + int(rng.random() * 3)
                yield writer.row("confirmation", reader, UNSET, UNSET, UNSET, at, CONFIRMATION)
                reader += 1
            for pace in (1, 2):
                for k, slug in enumerate(self.lessons):
                    for i in starts.get((pace, day - 14 * pace * k), ()):
                        if self.reached[i] > k:
                            at = self.start[i] + k * 14 * pace * DAY
                            number = str(self.enrollment[i])
                            yield writer.row("lesson", i, number, UNSET, slug, at, hashes[slug])
            for b in by_day.get(day, ()):
                content, key = _hash(b.issue), str(b.id)
                for index, (due, zones) in enumerate(b.waves):
                    for i in heapq.merge(*(members[z] for z in zones)):
                        at = due + int(rng.random() * 900)
                        if self.news_join[i] > due or 0 < self.stop[i] <= at:
                            continue
                        if budget == 0:
                            break
                        budget -= 1
                        yield writer.row("issue", i, UNSET, key, UNSET, at, content)
                        b.written += 1
                        b.last_ids[index] = i + 1
                        b.last_at = max(b.last_at, at)
                    else:
                        b.last_wave_done = index
                        continue
                    break
        self.counts.update(writer.counts)
        self.counts["events"] = writer.events


def _begun(planned: list[Broadcast]) -> list[Broadcast]:
    """The issues that have begun: the deliveries asked for may run out before the last."""
    return [b for b in planned if b.written]


CONFIRMATION = hashlib.sha256(b"confirmation").hexdigest()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _zone_name(index: int) -> str:
    return ZONES[index][0]


def _cumulative(weights: Iterable[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


FIRST_ASCII = [name.lower().translate(str.maketrans("ëéáł", "eeal")) for name in FIRST_NAMES]


class _Deliveries:
    """One delivery's row as its age and its reader's story make it: settled long ago,
    on its way in the last minutes, bounced or reported as spam just before the reader
    stopped. Some get provider events, written to a file as COPY text.

    `row` runs ten million times: its common case (delivered, long ago) comes first and
    reads only local names."""

    def __init__(self, world: World, events: IO[str]) -> None:
        self.world, self.out = world, events
        self.rng, self.stamp, self.now = world.rng, world.stamp, world.now
        self.random = world.rng.random
        self.stop, self.status = world.stop, world.status
        self.number = 0
        self.events = 0
        self.counts: dict[str, int] = defaultdict(int)
        wanted = world.shape.events
        if wanted is None:
            wanted = world.shape.deliveries // 10
        # Most events are for delivered mail: 'delivered', then opens, then clicks.
        share = wanted / max(world.shape.deliveries * 0.89, 1)
        self.p_delivered, self.p_open, self.p_click = (
            min(1.0, share * 0.6),
            min(1.0, share * 0.3),
            min(1.0, share * 0.08),
        )

    def row(
        self, kind: str, i: int, enrollment: str, broadcast: str, lesson: str, at: int, content: str
    ) -> str:
        random, stamp, now = self.random, self.stamp, self.now
        self.number = number = self.number + 1
        self.counts[kind] += 1
        roll = random()
        stop = self.stop[i]
        final = self.status[i] if stop and stop - at < 3 * DAY else None
        if final is None and roll < 0.89 and now - at >= 300:
            sent_at = at + 1 + int(random() * 20)
            updated = min(sent_at + 2 + int(random() * 300), now)
            message = f"SG{sent_at // 30:x}{number % 7}"
            line = (
                f"{number}\t{kind}\t{i + 1}\t{enrollment}\t{broadcast}\t{lesson}\t1\tdelivered\t"
                f"1\t\\N\t\\N\t{message}\t\\N\t{content}\t{stamp(at)}\t{stamp(updated)}\t"
                f"{stamp(sent_at)}\n"
            )
            if random() < self.p_delivered:
                self._event(number, kind, i, "delivered", f"{message}.{number}", updated, True)
            if random() < self.p_open:
                opened = updated + int(random() * DAY)
                self._event(number, kind, i, "open", f"{message}.{number}", opened)
            if random() < self.p_click:
                clicked = updated + int(random() * DAY)
                self._event(number, kind, i, "click", f"{message}.{number}", clicked)
            return line
        return self._rare(number, kind, i, enrollment, broadcast, lesson, at, content, roll, final)

    def _rare(
        self,
        number: int,
        kind: str,
        i: int,
        enrollment: str,
        broadcast: str,
        lesson: str,
        at: int,
        content: str,
        roll: float,
        final: int | None,
    ) -> str:
        rng, stamp, now = self.rng, self.stamp, self.now
        age = now - at
        lease = error = sent = UNSET
        attempts = 1
        if final == BOUNCED:
            status, error = "bounced", BOUNCE
        elif age < 300:
            if roll < 0.5:
                status, attempts, content = "queued", 0, UNSET
            elif roll < 0.7:
                status, lease = "sending", stamp(at + 300)
            elif roll < 0.8:
                status, lease = "in_flight", stamp(at + 300)
            else:
                status = "sent"
        elif roll < 0.89 or final is not None:
            status = "delivered"
        elif roll < 0.96 or age < 6 * 3600:
            status = "sent"
        elif roll < 0.972:
            status, attempts, error = "failed", 2 + int(rng.random() * 4), rng.choice(FAILURES)
        elif roll < 0.98:
            status, error = "bounced", BOUNCE
        elif roll < 0.982:
            status, error = "unknown", "no answer from SendGrid; waiting for its events"
        else:
            status, attempts, content = "skipped", 0, UNSET
            error = "suppressed"
        updated = at
        message = UNSET
        if status in ("sent", "delivered", "bounced"):
            sent_at = at + 1 + int(rng.random() * 20)
            sent, updated = stamp(sent_at), sent_at
            message = f"SG{sent_at // 30:x}{number % 7}"
            if status != "sent":
                updated = min(sent_at + 2 + int(rng.random() * 300), now)
        line = (
            f"{number}\t{kind}\t{i + 1}\t{enrollment}\t{broadcast}\t{lesson}\t1\t{status}\t"
            f"{attempts}\t{lease}\t{error}\t{message}\t{UNSET}\t{content}\t{stamp(at)}\t"
            f"{stamp(updated)}\t{sent}\n"
        )
        if message is not UNSET:
            self._events(number, kind, i, status, f"{message}.{number}", updated, final)
        return line

    def _events(
        self, number: int, kind: str, i: int, status: str, message: str, at: int, final: int | None
    ) -> None:
        rng = self.rng
        if status == "bounced":
            self._event(number, kind, i, "bounce", message, at, change=True)
        elif status == "delivered":
            if rng.random() < self.p_delivered:
                self._event(number, kind, i, "delivered", message, at, change=True)
            if rng.random() < self.p_open:
                self._event(number, kind, i, "open", message, at + int(rng.random() * DAY))
            if rng.random() < self.p_click:
                self._event(number, kind, i, "click", message, at + int(rng.random() * DAY))
        if final == COMPLAINED and status == "delivered":
            self._event(number, kind, i, "spamreport", message, at + 60, change=True)
        elif final == UNSUBSCRIBED and self.world.channel.get(i) == "sendgrid unsubscribe":
            self._event(number, kind, i, "unsubscribe", message, at + 60, change=True)

    def _event(
        self,
        delivery: int,
        kind: str,
        i: int,
        name: str,
        message: str,
        at: int,
        change: bool = False,
    ) -> None:
        stamp = self.stamp
        at = min(at, self.now - 2)
        self.events += 1
        number = self.events
        email = self.world.email(i)
        event_id = f"{number:010x}{self.rng.getrandbits(48):012x}"
        key = f"{message}|{name}|{email}" if change else UNSET
        received = min(at + 1 + int(self.rng.random() * 60), self.now - 1)
        processed = UNSET if self.now - received < 30 else stamp(received + 1)
        payload = (
            f'{{"email": "{email}", "event": "{name}", "timestamp": {at}, '
            f'"sg_event_id": "{event_id}", "sg_message_id": "{message}", '
            f'"tend_delivery": "{delivery}", "tend_kind": "{kind}"}}'
        )
        self.out.write(
            f"{number}\tsendgrid\t{event_id}\t{key}\t{delivery}\t{name}\t{stamp(at)}\t"
            f"{stamp(received)}\t{processed}\t{payload}\n"
        )


# -- the database side --------------------------------------------------------------------

COLUMNS = {
    "subscribers": "id, uid, email, first_name, timezone, status, created_at, consent_at, "
    "consent_ip, consent_user_agent, consent_source, consent_text_version, wanted, "
    "confirmed_at, confirmed_ip, confirmed_user_agent, unsubscribed_at, unsubscribe_channel",
    "enrollments": "id, subscriber_id, course, state, started_at, position, round, "
    "next_due_at, completed_at, paused_until, pace, course_version",
    "memberships": "id, subscriber_id, list, joined_at, left_at",
    "deliveries": "id, kind, subscriber_id, enrollment_id, broadcast_id, lesson, round, "
    "status, attempts, lease_until, last_error, provider_message_id, message_id, "
    "content_hash, created_at, updated_at, sent_at",
    "events": "id, provider, provider_event_id, change_key, delivery_id, type, occurred_at, "
    "received_at, processed_at, payload",
    "broadcasts": "id, list, issue, subject, status, send_at, last_subscriber_id, created_at, "
    "finished_at",
    "broadcast_waves": "id, broadcast_id, due_at, zones, last_subscriber_id, finished_at",
    "suppressions": "id, email, email_hash, reason, source, created_at",
}


def driver_url(database_url: str) -> str:
    """The SQLAlchemy URL as libpq takes it."""
    url = make_url(database_url)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def copy(cursor: psycopg.Cursor[Any], table: str, lines: Iterable[str], progress: Progress) -> int:
    """COPY generated text lines into `table`, in chunks of a few thousand rows. FREEZE:
    the table was emptied in this transaction, so its rows may be written already frozen
    (and visible to index-only scans) with no VACUUM after."""
    statement = f"COPY {table} ({COLUMNS[table]}) FROM STDIN WITH (FREEZE)"
    chunk: list[str] = []
    with cursor.copy(statement) as stream:
        for line in lines:
            chunk.append(line)
            if len(chunk) == 5000:
                stream.write("".join(chunk))
                progress.add(len(chunk))
                chunk.clear()
        if chunk:
            stream.write("".join(chunk))
            progress.add(len(chunk))
    return progress.rows


@dataclass(frozen=True)
class Secondary:
    """The indexes and constraints that COPY would otherwise maintain row by row."""

    foreign_keys: list[tuple[str, str, str]]  # (table, name, definition)
    uniques: list[tuple[str, str, str]]
    indexes: list[tuple[str, str]]  # (name, CREATE INDEX statement)


def secondary(cursor: psycopg.Cursor[Any], tables: list[str]) -> Secondary:
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid::regclass::text = ANY(%s) "
        "ORDER BY 1, 2",
        [tables],
    )
    found = cursor.fetchall()
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) ORDER BY 1",
        [tables],
    )
    return Secondary(
        foreign_keys=[(table, name, sql) for table, name, kind, sql in found if kind == "f"],
        uniques=[(table, name, sql) for table, name, kind, sql in found if kind == "u"],
        indexes=[(name, sql) for name, sql in cursor.fetchall()],
    )


def drop(cursor: psycopg.Cursor[Any], objects: Secondary) -> None:
    for table, name, _ in objects.foreign_keys + objects.uniques:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in objects.indexes:
        cursor.execute(f"DROP INDEX {name}")


def restore(cursor: psycopg.Cursor[Any], objects: Secondary, say: Callable[[str], None]) -> None:
    for name, sql in objects.indexes:
        timed(say, f"index {name}", lambda sql=sql: cursor.execute(sql))
    for table, name, sql in objects.uniques:
        statement = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}'
        timed(say, f"unique {name}", lambda s=statement: cursor.execute(s))
    for table, name, sql in objects.foreign_keys:
        statement = f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {sql}'
        timed(say, f"foreign key {name}", lambda s=statement: cursor.execute(s))


def timed(say: Callable[[str], None], what: str, step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    seconds = time.perf_counter() - started
    say(f"  {what}: {seconds:.1f} s")
    return seconds


def seed(
    database_url: str,
    shape: Shape,
    catalog: Catalog,
    say: Callable[[str], None] = print,
) -> Seeded:
    """Empty Tend's tables in the database and fill them in the shape asked for."""
    if not database_url.startswith("postgresql"):
        raise ValueError("seeding with COPY needs PostgreSQL")
    result = Seeded()
    started, cpu = time.perf_counter(), time.process_time()
    upgrade(database_url)
    result.seconds["migrations"] = time.perf_counter() - started
    now = int(time.time())
    result.now = datetime.fromtimestamp(now, UTC)
    world = World(shape, catalog, now)
    tables = [table.name for table in Base.metadata.sorted_tables]
    with psycopg.connect(driver_url(database_url)) as connection, connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        objects = secondary(cursor, tables)
        drop(cursor, objects)

        def load(table: str, lines: Iterable[str]) -> None:
            progress = Progress(table, say)
            begun = time.perf_counter()
            rows = copy(cursor, table, lines, progress)
            seconds = time.perf_counter() - begun
            result.counts[table] = rows
            result.seconds[f"copy {table}"] = seconds
            say(f"  {table}: {rows:,} rows in {seconds:.1f} s, {rows / max(seconds, 1e-9):,.0f}/s")

        load("subscribers", world.subscribers())
        load("enrollments", world.enrollment_rows())
        load("memberships", world.membership_rows())
        planned = world.plan_issues()
        with tempfile.TemporaryFile("w+", encoding="utf-8") as events:
            load("deliveries", world.delivery_rows(planned, events))
            events.seek(0)
            load("events", events)
        result.counts["events"] = world.counts["events"]
        load("broadcasts", world.broadcast_rows(planned))
        load("broadcast_waves", world.wave_rows(planned))
        load("suppressions", world.suppression_rows())
        begun = time.perf_counter()
        say("indexes and constraints, as the migrations made them:")
        restore(cursor, objects, say)
        result.seconds["indexes and constraints"] = time.perf_counter() - begun
        for table in COLUMNS:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce(max(id), 0) + 1, false) FROM {table}"
            )
        begun = time.perf_counter()
        connection.commit()
        result.seconds["commit"] = time.perf_counter() - begun
    with psycopg.connect(driver_url(database_url), autocommit=True) as connection:
        begun = time.perf_counter()
        connection.execute("ANALYZE")
        result.seconds["analyze"] = time.perf_counter() - begun
    result.cpu_seconds = time.process_time() - cpu
    for kind in ("confirmation", "lesson", "issue"):
        result.counts[f"deliveries: {kind}"] = world.counts.get(kind, 0)
    return result
