"""Reading an import CSV and checking it row by row, before anything is saved.

Every rule is someone else's: the per-network length and content rules are
editor.services.text_errors, a time without an offset is read like the API's
`publish_at` (ground.rest.WallClockDateTimeField, then scheduling.rules.localize in
each channel's zone), a pinned time in the past is refused with timeslot_pin's own rule.
This module only maps a file's cells onto them and says which line broke which rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import unicodedata
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils import timezone
from rest_framework.exceptions import ValidationError as DRFValidationError

from accounts.models import Workspace
from channels.models import Channel
from editor.services import accounts_to_check, text_errors
from ground import timebounds
from ground.rest import WallClockDateTimeField
from posts.models import MAX_TEXT, MAX_VARIATIONS
from scheduling.rules import localize
from scheduling.services import check_publish_time as check_pin_time

COLUMNS = ("text", "variations", "channels", "publish_at", "max_publications", "image_url")
# Headers people type for the same columns (compared lower-case, spaces as underscores).
ALIASES = {"pin_at": "publish_at", "pin_time": "publish_at", "max": "max_publications"}
VARIATION_SEPARATOR = "||"
CHANNEL_SEPARATOR = ";"
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_PUBLICATIONS = 1_000_000
# Written by our export before a cell that a spreadsheet would run as a formula
# (bulk.exports); taken off again here so an exported queue imports as it was.
FORMULA_GUARD = "'"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets skip leading blanks of any kind before a formula sign, and some read the
# full-width and small forms (U+FF1D, U+FE66, U+FF0B, U+FF0D, U+FF20...) as the ASCII ones:
# NFKC maps those onto them.
FORMULA_SIGNS = ("=", "+", "-", "@")
BLANK_CATEGORIES = {"Zs", "Zl", "Zp", "Cc", "Cf"}  # spaces, controls, zero-width marks
NUL = "\x00"


class FileRefused(ValueError):
    """The file as a whole cannot be read; the message is meant for the user."""


@dataclass
class ParsedRow:
    line: int
    data: dict
    errors: list[str] = field(default_factory=list)
    image_url: str = ""


@dataclass
class ParsedFile:
    rows: list[ParsedRow]
    ignored_columns: list[str]


def needs_formula_guard(text: str) -> bool:
    """Whether a spreadsheet could run `text` as a formula (the export then writes it with
    FORMULA_GUARD before it). A text that starts with the guard already is judged without
    it, so its own apostrophe survives the round trip."""
    text = text.lstrip(FORMULA_GUARD)
    if text.startswith(FORMULA_STARTS):
        return True
    for char in text:
        if char.isspace() or unicodedata.category(char) in BLANK_CATEGORIES:
            continue
        return unicodedata.normalize("NFKC", char).startswith(FORMULA_SIGNS)
    return False


def _unguard(value: str) -> str:
    if value.startswith(FORMULA_GUARD) and needs_formula_guard(value[1:]):
        return value[1:]
    return value


def _header(names: list[str]) -> tuple[dict[str, int], list[str]]:
    index: dict[str, int] = {}
    ignored: list[str] = []
    for position, raw in enumerate(names):
        name = raw.strip().lower().replace(" ", "_")
        name = ALIASES.get(name, name)
        if name in COLUMNS and name not in index:
            index[name] = position
        elif raw.strip():
            ignored.append(raw.strip())
    if "text" not in index:
        raise FileRefused(
            "The first line must name the columns, with at least “text” "
            f"(known columns: {', '.join(COLUMNS)})."
        )
    return index, ignored


def too_large_message() -> str:
    return f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB."


def _decode(data: bytes) -> str:
    if len(data) > MAX_FILE_BYTES:
        raise FileRefused(too_large_message())
    try:
        return data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise FileRefused("The file is not UTF-8 text: save it as “CSV UTF-8”.") from None


class _ChannelNames:
    """A cell's channel names, matched exactly, case included (names are unique ignoring
    case, so a match that ignored it would guess). A name beats a slug, so an exported
    queue (channels by name) imports into the same channels even when one channel's slug
    is another's name; "tech" also finds "#tech" and the channel whose slug is tech."""

    def __init__(self, workspace: Workspace):
        channels = list(
            Channel.objects.filter(workspace=workspace).order_by("id").prefetch_related("accounts")
        )
        self.lookups: list[dict[str, Channel]] = [{}, {}, {}]
        self.folded: dict[str, Channel] = {}  # only to suggest the right spelling
        for channel in channels:
            name = channel.name.strip()
            keys = (name, name.lstrip("#"), channel.slug)
            for lookup, key in zip(self.lookups, keys, strict=True):
                lookup.setdefault(key, channel)
            for key in keys:
                self.folded.setdefault(key.casefold(), channel)

    def find(self, name: str) -> Channel | None:
        for key in (name, name.lstrip("#")):
            for lookup in self.lookups:
                if key in lookup:
                    return lookup[key]
        return None

    def suggest(self, name: str) -> Channel | None:
        return self.folded.get(name.casefold()) or self.folded.get(name.lstrip("#").casefold())


class _RowChecker:
    def __init__(self, workspace: Workspace, now: dt.datetime):
        self.channels = _ChannelNames(workspace)
        self.now = now
        self.url_validator = URLValidator(schemes=["http", "https"])
        # One query per distinct set of channels, not one per text.
        self.accounts: dict[frozenset[int], list] = {}

    def channels_of(self, cell: str, errors: list[str]) -> list[Channel]:
        picked: list[Channel] = []
        unknown: list[str] = []
        for name in (n.strip() for n in cell.split(CHANNEL_SEPARATOR)):
            if not name:
                continue
            channel = self.channels.find(name)
            if channel is None:
                unknown.append(name)
            elif channel not in picked:
                picked.append(channel)
        if unknown:
            message = f"Unknown channel(s): {', '.join(unknown)}."
            hints = {c.name: None for n in unknown if (c := self.channels.suggest(n))}
            if hints:
                message += " Names must match exactly, case included: did you mean "
                message += ", ".join(f"“{h}”" for h in hints) + "?"
            errors.append(message)
        return picked

    def publish_at(self, cell: str, channels: list[Channel], errors: list[str]) -> str | None:
        try:
            value = WallClockDateTimeField().to_internal_value(cell)
        except DRFValidationError as exc:
            errors.extend(f"publish_at: {m}" for m in exc.detail)
            return None
        if not channels:
            errors.append("publish_at: name the channel(s) to pin the post to.")
            return None
        try:
            if timezone.is_naive(value):
                for channel in channels:
                    timebounds.validate_wall_time_in(value, channel.tz)
                instants = [localize(value, c.tz) for c in channels]
            else:
                instants = [value]  # bounded by the field already
            for instant in instants:
                check_pin_time(instant, now=self.now)
        except ValidationError as exc:
            errors.extend(f"publish_at: {m}" for m in exc.messages)
            return None
        return value.isoformat()

    def max_publications(self, cell: str, pinned: bool, errors: list[str]) -> int | None:
        if not (cell.isascii() and cell.isdigit()) or not 1 <= int(cell) <= MAX_PUBLICATIONS:
            errors.append(f"max_publications: a whole number from 1 to {MAX_PUBLICATIONS}.")
            return None
        if pinned:
            errors.append("max_publications: applies to queued posts, not to a pinned time.")
            return None
        return int(cell)

    def texts(self, text: str, variations: list[str], channels: list[Channel]) -> list[str]:
        errors: list[str] = []
        key = frozenset(c.id for c in channels)
        if key not in self.accounts:
            self.accounts[key] = accounts_to_check(channels=channels)
        accounts = self.accounts[key]
        for index, value in enumerate([text, *variations]):
            label = "Text" if index == 0 else f"Variation {index}"
            if len(value) > MAX_TEXT:
                errors.append(f"{label}: longer than {MAX_TEXT} characters.")
                continue
            # The networks' own rules, per account of the row's channels (X's weighted
            # count, a Mastodon instance's limit...): the compose form's check.
            found = text_errors(text=value, channels=channels, accounts=accounts)
            errors.extend(f"{label}: {e}" for e in found)
        return errors

    def check(self, line: int, cells: dict[str, str]) -> ParsedRow:
        errors: list[str] = []
        for name, value in cells.items():
            if NUL in value:
                # PostgreSQL stores no NUL in text or jsonb (the row's data and errors):
                # the row is refused, and what it keeps to show the preview has none.
                errors.append(f"{name}: contains a NUL character (U+0000); remove it.")
                cells[name] = value.replace(NUL, "")
        text = cells.get("text", "")
        variations = [
            v.strip() for v in cells.get("variations", "").split(VARIATION_SEPARATOR) if v.strip()
        ]
        if len(variations) > MAX_VARIATIONS:
            errors.append(f"At most {MAX_VARIATIONS} variations.")
        channels = self.channels_of(cells.get("channels", ""), errors)
        publish_at = None
        if cells.get("publish_at", "").strip():
            publish_at = self.publish_at(cells["publish_at"].strip(), channels, errors)
        max_publications = None
        if cells.get("max_publications", "").strip():
            max_publications = self.max_publications(
                cells["max_publications"].strip(), bool(cells.get("publish_at", "").strip()), errors
            )
            if max_publications and not channels:
                errors.append("max_publications: name the channel(s) to queue the post in.")
        image_url = cells.get("image_url", "").strip()
        if image_url:
            try:
                if len(image_url) > 500:
                    raise ValidationError("too long")
                self.url_validator(image_url)
            except ValidationError:
                errors.append("image_url: not an http(s) URL of at most 500 characters.")
                image_url = ""
        errors.extend(self.texts(text, variations, channels))
        data = {
            "text": text,
            "variations": variations,
            "channels": [c.id for c in channels],
            "channel_names": [c.name for c in channels],
            "publish_at": publish_at,
            "max_publications": max_publications,
        }
        return ParsedRow(line=line, data=data, errors=errors, image_url=image_url)


def parse_file(*, workspace: Workspace, data: bytes, now: dt.datetime | None = None) -> ParsedFile:
    """Every data line of the CSV, resolved and checked (FileRefused: unreadable file)."""
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise FileRefused("The file is empty.") from None
    except csv.Error as exc:
        raise FileRefused(f"Line 1 is not valid CSV ({exc}).") from None
    index, ignored = _header(header)
    checker = _RowChecker(workspace, now or timezone.now())
    rows: list[ParsedRow] = []
    line = reader.line_num + 1
    try:
        for record in reader:
            # A quoted cell may span lines: the row is named by the line it starts on.
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) >= MAX_ROWS:
                raise FileRefused(f"The file has more than {MAX_ROWS} rows: split it.")
            cells = {
                name: _unguard(record[i]) if i < len(record) else "" for name, i in index.items()
            }
            rows.append(checker.check(start, cells))
    except csv.Error as exc:
        raise FileRefused(f"Line {line} is not valid CSV ({exc}).") from None
    if not rows:
        raise FileRefused("The file has a header but no rows.")
    return ParsedFile(rows=rows, ignored_columns=ignored)
