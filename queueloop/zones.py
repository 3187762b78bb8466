"""The IANA zone names a person may pick (channels, profiles, the calendar): one list."""

from __future__ import annotations

import functools
import zoneinfo

# Files in the zone database that are not zones a user could mean: "localtime" is the
# server's own setting, the others are build artefacts.
NOT_ZONES = {"localtime", "posixrules", "Factory"}


@functools.cache
def iana_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones() - NOT_ZONES)


def zone_choices() -> list[tuple[str, str]]:
    """(value, label) pairs for a select, sorted, underscores shown as spaces."""
    return [(name, name.replace("_", " ")) for name in sorted(iana_zone_names())]
