"""Realistic fake records and games, for `flask seed` (demos, load tests, the benchmark).

Each generator yields tuples in the order of its COLUMNS, made fast enough to feed COPY at well over
50,000 rows a second, and reproducible from a seed. Every row is one that the schemas would accept.
"""

import random
from datetime import timedelta

from phoenix.models import utcnow

RECORD_COLUMNS = (
    "timestamp", "value1", "value2", "value3", "creationdate", "lastmodificationdate", "lastmodifiedby",
    "createdby",
)  # fmt: skip
GAME_COLUMNS = (
    "name", "platform", "publisher", "genre", "year",
    "creationdate", "lastmodificationdate", "lastmodifiedby", "createdby",
)  # fmt: skip

SENSORS = (
    "boiler", "cellar", "attic", "garage", "kitchen", "porch", "greenhouse", "server room", "lab", "hallway",
    "office", "roof", "pump", "tank", "well", "garden", "barn", "workshop", "studio", "pantry",
)  # fmt: skip
READINGS = (
    "temperature", "humidity", "pressure", "voltage", "current", "flow", "level", "lux", "co2", "noise",
)  # fmt: skip
STATES = ("ok", "ok", "ok", "ok", "high", "low", "check", "calibrating", "offline", "ok")

# Game names as "<opening> <noun><ending>"; each opening comes in about one name in ten.
OPENINGS = (
    "Super", "Dark", "Final", "Mega", "Lost", "Eternal", "Crimson", "Legend of the", "Shadow", "Galactic",
)  # fmt: skip
NOUNS = (
    "Quest", "Knights", "Racer", "Kingdom", "Souls", "Warriors", "Odyssey", "Tactics", "Legends", "Hunter",
    "Dungeon", "Galaxy", "Striker", "Empire", "Frontier", "Heroes", "Chronicles", "Saga", "Arena", "Island",
    "Rally", "Fantasy", "Dragon", "Ninja", "Pirates", "Robots", "Zombies", "Safari", "Circuit", "Party",
)  # fmt: skip
ENDINGS = ("", "", "", "", " II", " III", " 2", " 3", " Deluxe", " Online", ": Origins", " HD", " Remastered")
PLATFORMS = (
    "PS2", "DS", "PS3", "Wii", "X360", "PSP", "PS", "PC", "XB", "GBA", "GC", "3DS", "PSV", "PS4", "N64",
    "SNES", "XOne", "SAT", "WiiU", "2600", "NES", "GB", "DC", "GEN", "NS",
)  # fmt: skip
GENRES = (
    "Action", "Sports", "Misc", "Role-Playing", "Shooter", "Adventure", "Racing", "Platform", "Simulation",
    "Fighting", "Strategy", "Puzzle",
)  # fmt: skip
PUBLISHERS = (
    "Electronic Arts", "Activision", "Namco Bandai Games", "Ubisoft", "Konami Digital Entertainment", "THQ",
    "Nintendo", "Sony Computer Entertainment", "Sega", "Take-Two Interactive", "Capcom", "Atari",
    "Tecmo Koei", "Square Enix", "Warner Bros. Interactive Entertainment", "Disney Interactive Studios",
    "Midway Games", "Eidos Interactive", "505 Games", "Microsoft Game Studios", "D3Publisher", "Acclaim",
    "Codemasters", "Bethesda Softworks", "Zoo Digital Publishing", "Deep Silver", "Vivendi Games", "Majesco",
)  # fmt: skip


CHUNK = 10_000  # rows made at a time, column by column (random.choices is fastest in bulk)


def chunks(count):
    """(first row number, size) of each chunk of count rows."""
    for first in range(0, count, CHUNK):
        yield first, min(CHUNK, count - first)


def timeline(rng, count):
    """(created, modified) of count rows: created from about a year ago up to now, in order; seven in
    ten never modified since, the others modified up to two days later (never after now)."""
    now = utcnow()
    step = timedelta(days=365) / max(count, 1)
    start = now - step * count
    for n in range(count):
        created = start + step * n
        modified = created if rng.random() < 0.7 else min(now, created + timedelta(hours=rng.random() * 48))
        yield created, modified


def sometimes_none(rng, values, share):
    """values with about share of them replaced by None."""
    return [None if rng.random() < share else value for value in values]


def phrases(rng, size, template, *word_lists):
    """size strings made from template with one random word of each list."""
    picks = [rng.choices(words, k=size) for words in word_lists]
    return [template.format(*words) for words in zip(*picks, strict=True)]


def fake_records(count, username="seed", seed=None):
    """count records like a sensor network's: a reading's time, where and what, its value, a flag."""
    rng = random.Random(seed)
    times = timeline(rng, count)
    for _, size in chunks(count):
        value1 = phrases(rng, size, "{} {} {}", SENSORS, READINGS, STATES)
        columns = (
            [round(1_700_000_000 + rng.random() * 63_000_000, 3) for _ in range(size)],
            sometimes_none(rng, value1, 0.05),
            sometimes_none(rng, [round(rng.gauss(20.0, 12.0), 3) for _ in range(size)], 0.05),
            sometimes_none(rng, rng.choices((True, False), k=size), 0.05),
        )
        for row in zip(*columns, strict=True):
            yield (*row, *next(times), username, username)


def fake_games(count, username="seed", seed=None):
    """count games like a sales chart's: made-up names on real platforms, genres and publishers."""
    rng = random.Random(seed)
    times = timeline(rng, count)
    years = range(1980, 2021)
    for _, size in chunks(count):
        names = phrases(rng, size, "{} {}{}", OPENINGS, NOUNS, ENDINGS)
        columns = (
            names,
            rng.choices(PLATFORMS, k=size),
            rng.choices(PUBLISHERS, k=size),
            rng.choices(GENRES, k=size),
            rng.choices(years, k=size),
        )
        for row in zip(*columns, strict=True):
            yield (*row, *next(times), username, username)
