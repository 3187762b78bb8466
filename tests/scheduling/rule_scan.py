"""How many months dateutil visits while a function runs: the unit scheduling/rules.py's
expansion bounds are stated in, so tests bound the work without timing anything.

Test-side instrumentation (production carries no hook): every period dateutil's rrule
visits rebuilds its month tables through `dateutil.rrule._iterinfo.rebuild`, which
ground/library_workarounds.py already relies on (and tests/ground/test_library_workarounds.py
pins); here it is only counted, for the duration of one call, in this thread.
"""

from __future__ import annotations

import threading

import dateutil.rrule


def months_scanned_by(function, *args, **kwargs) -> int:
    info = dateutil.rrule._iterinfo
    real = info.rebuild
    caller = threading.get_ident()
    count = 0

    def counting(self, year, month):
        nonlocal count
        if threading.get_ident() == caller:
            count += 1
        return real(self, year, month)

    info.rebuild = counting
    try:
        function(*args, **kwargs)
    finally:
        info.rebuild = real
    return count
