"""Reading a games CSV in the common video-game-sales layout, every row checked by the games schema.

The layout is that of the well-known "vgsales" chart: a header row naming Name, Platform, Year, Genre
and Publisher among others (Rank, the sales columns...), which are ignored. A row that the schema
refuses (a year of "N/A", a blank publisher) is skipped and counted under its reasons.
"""

import csv
import io
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from marshmallow import ValidationError

from phoenix.schemas import game_schema

COLUMNS = {"name": "Name", "platform": "Platform", "year": "Year", "genre": "Genre", "publisher": "Publisher"}
# Years as the chart's exports spell them: 2006, and 2006.0 from a spreadsheet or pandas.
WHOLE_YEAR = re.compile(r"\s*[+-]?\d+(\.0*)?\s*")
EXAMPLE_LINES = 5


class CSVLayoutError(ValueError):
    """The file is not a games CSV: a column is missing, or it is not text in the encoding given."""


@dataclass
class ImportReport:
    """What an import read: how many rows were good, and the skipped ones by reason, with example lines."""

    imported: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)  # "field: message" -> rows
    examples: dict = field(default_factory=lambda: defaultdict(list))  # reason -> first line numbers

    def skip(self, line, messages):
        self.skipped += 1
        for reason in sorted(set(reasons_of(messages))):
            self.reasons[reason] += 1
            if len(self.examples[reason]) < EXAMPLE_LINES:
                self.examples[reason].append(line)


def reasons_of(messages):
    """ "field: message" for each of a ValidationError's messages."""
    for name, texts in messages.items():
        for text in texts if isinstance(texts, list) else [texts]:
            yield f"{name}: {text}"


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it (for a progress bar over the file's size)."""

    def __init__(self, raw):
        self.raw = raw
        self.position = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        self.position += n or 0
        return n


def header_map(fieldnames):
    """Our field -> the file's column, matched without regard to case or surrounding spaces."""
    given = {name.strip().lower(): name for name in fieldnames or [] if name}
    missing = [column for column in COLUMNS.values() if column.lower() not in given]
    if missing:
        found = ", ".join(name for name in fieldnames or []) or "none"
        raise CSVLayoutError(f"The CSV lacks the column(s) {', '.join(missing)} (its columns: {found}).")
    return {ours: given[theirs.lower()] for ours, theirs in COLUMNS.items()}


def year_of(text):
    """The year as the schema wants it, a JSON integer, when the cell is a whole number; else as given."""
    if text is not None and WHOLE_YEAR.fullmatch(text):
        return int(text.strip().split(".")[0])
    return text


def read_games(binary_file, report, encoding="utf-8-sig"):
    """The validated games of a CSV file (dicts of the schema's fields), counting skips in report.

    The header is checked at once (CSVLayoutError); the rows are read as the result is iterated.
    """
    reader = csv.DictReader(io.TextIOWrapper(binary_file, encoding=encoding, newline=""))
    try:
        columns = header_map(reader.fieldnames)
    except UnicodeDecodeError as error:
        raise not_text(error, encoding) from None
    return validated_rows(reader, columns, report, encoding)


def not_text(error, encoding):
    return CSVLayoutError(f"The file is not {encoding} text ({error.reason} at byte {error.start}).")


def validated_rows(reader, columns, report, encoding):
    """Each row that the games schema accepts; the others counted in report."""
    try:
        for row in reader:
            data = {ours: row.get(theirs) for ours, theirs in columns.items()}
            data["year"] = year_of(data["year"])
            try:
                game = game_schema.load(data)
            except ValidationError as error:
                report.skip(reader.line_num, error.messages)
                continue
            report.imported += 1
            yield game
    except UnicodeDecodeError as error:
        raise not_text(error, encoding) from None
    except csv.Error as error:
        raise CSVLayoutError(f"The CSV is malformed near line {reader.line_num}: {error}.") from None
