"""The IANA zone names a person may pick (channels, profiles, the calendar): one home.

Two lists, on purpose:
- `iana_zone_names()`: every name the zone database opens, legacy aliases included
  (`US/Eastern`, `Asia/Calcutta`, `Etc/GMT+1`). This is what input ACCEPTS (the API, a
  stored value, a browser that still reports Asia/Calcutta), so nothing that worked before
  is refused.
- `canonical_zones()`: what a person is OFFERED: the zones of the tzdata package's zone.tab
  (each country's zones; it leaves out the backward-compatibility links and the Etc/
  fixed offsets) plus UTC, each with its countries (iso3166.tab) and the aliases that mean
  it, so a picker can be searched by city, country or old name.

`canonical_name()` maps an alias onto the offered zone it means, by the link lines of
tzdata.zi (`L Asia/Kolkata Asia/Calcutta`); a name with no offered equivalent (Etc/GMT+1)
is kept as it is. The tzdata package is pinned (requirements.txt), and its files are read
through importlib.resources, its documented way in.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.resources
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass

# Files in the zone database that are not zones a user could mean: "localtime" is the
# server's own setting, the others are build artefacts.
NOT_ZONES = {"localtime", "posixrules", "Factory"}
# zone.tab lists places; UTC is not one, but it is every new channel's default.
UTC = "UTC"
# What every input (forms, the API, the admin) says to a name that is not a zone.
INVALID_ZONE = "%(value)s is not an IANA time zone (for example Europe/Berlin)."


@functools.cache
def iana_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_ZONES)


@functools.cache
def _zone_info(name: str) -> zoneinfo.ZoneInfo:
    # ZoneInfo keeps only its 8 latest zones strongly: a picker labels ~420 each page, so
    # without a reference of our own every label read its zone's file from disk again.
    return zoneinfo.ZoneInfo(name)


@dataclass(frozen=True)
class Zone:
    name: str  # Asia/Kolkata
    city: str  # Kolkata
    countries: tuple[str, ...]  # ("India",)
    comment: str  # zone.tab's note where a country has several zones ("most of Ukraine")
    aliases: tuple[str, ...]  # ("Asia/Calcutta",)

    def offset(self, at: dt.datetime | None = None) -> str:
        """The zone's UTC offset at `at` (now by default), e.g. "UTC+05:30": DST-aware."""
        when = at or dt.datetime.now(dt.UTC)
        delta = when.astimezone(_zone_info(self.name)).utcoffset() or dt.timedelta()
        minutes = int(delta.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def label(self, at: dt.datetime | None = None) -> str:
        """ "Asia/Kolkata — India (UTC+05:30)": the name as stored, where, the offset now."""
        where = ", ".join(self.countries)
        if self.comment:
            where = f"{where}: {self.comment}" if where else self.comment
        name = self.name.replace("_", " ")
        return f"{name} — {where} ({self.offset(at)})" if where else f"{name} ({self.offset(at)})"

    @property
    def search_text(self) -> str:
        """What a search matches: name, city, countries, note and old names."""
        return " ".join(
            [self.name, self.city, *self.countries, self.comment, *self.aliases]
        ).lower()


def _tzdata_lines(filename: str) -> list[str]:
    text = importlib.resources.files("tzdata").joinpath("zoneinfo", filename).read_text("utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@functools.cache
def _links() -> dict[str, str]:
    """alias → the name it links to (one step), from tzdata.zi."""
    links = {}
    for line in _tzdata_lines("tzdata.zi"):
        if line.startswith("L "):
            _, target, alias = line.split()
            links[alias] = target
    return links


def _final(name: str) -> str:
    links = _links()
    seen = set()
    while name in links and name not in seen:
        seen.add(name)
        name = links[name]
    return name


@functools.cache
def canonical_zones() -> tuple[Zone, ...]:
    """The zones offered in pickers, sorted by name."""
    countries = dict(line.split("\t")[:2] for line in _tzdata_lines("iso3166.tab"))
    where: dict[str, list[str]] = defaultdict(list)
    comments: dict[str, str] = {}
    for line in _tzdata_lines("zone.tab"):
        code, _coordinates, name, *comment = line.split("\t")
        where[name].append(countries.get(code, code))
        if comment:
            comments[name] = comment[0]
    names = {n for n in where if n in iana_zone_names()} | {UTC}
    aliases: dict[str, list[str]] = defaultdict(list)
    by_final = _by_final(frozenset(names))
    for other in iana_zone_names() - names:
        offered = _offered_for(other, by_final)
        if offered:
            aliases[offered].append(other)
    return tuple(
        Zone(
            name=name,
            city=name.rsplit("/", 1)[-1].replace("_", " "),
            countries=tuple(where.get(name, [])),
            comment=comments.get(name, ""),
            aliases=tuple(sorted(aliases[name])),
        )
        for name in sorted(names)
    )


@functools.cache
def _by_final(offered: frozenset[str]) -> dict[str, str]:
    """The zone every link ends at → the offered name for it: the zone itself when offered,
    else the first offered name linking there (Europe/Oslo is offered although it links to
    Europe/Berlin; an alias of that shared zone, Atlantic/Jan_Mayen, maps to Berlin)."""
    found: dict[str, str] = {}
    for name in sorted(offered):
        found.setdefault(_final(name), name)
    found.update({name: name for name in offered if _final(name) == name})
    return found


def _offered_for(name: str, by_final: dict[str, str]) -> str | None:
    return by_final.get(_final(name))


@functools.cache
def canonical_names() -> frozenset[str]:
    return frozenset(z.name for z in canonical_zones())


def canonical_name(name: str) -> str | None:
    """The name to store for `name`: itself when offered, the offered zone it is an alias
    of, itself when it is some other IANA name (accepted, not offered), else None."""
    if name in canonical_names():
        return name
    if name not in iana_zone_names():
        return None
    return _offered_for(name, _by_final(canonical_names())) or name


def zone_choices(*, first: str | None = None, short: bool = False) -> list[tuple[str, str]]:
    """(value, label) pairs for a select: the canonical zones with their current offsets,
    `first` (the person's own zone) at the top. `short` labels leave out the countries
    (the calendar's compact zone switch)."""
    now = dt.datetime.now(dt.UTC)
    zones = list(canonical_zones())
    first = canonical_name(first) if first else None
    zones.sort(key=lambda z: z.name != first)  # stable: the rest stays sorted by name
    if short:
        return [(z.name, f"{z.name.replace('_', ' ')} ({z.offset(now)})") for z in zones]
    return [(z.name, z.label(now)) for z in zones]
