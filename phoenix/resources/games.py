"""/api/games: the video-game catalogue and its items."""

from phoenix.listing import Listing, bounds, contains, equals, equals_folded
from phoenix.models import Game, folded, plain
from phoenix.permissions import GAMES_WRITE
from phoenix.resources.base import (
    Collection,
    CollectionResource,
    HistoryResource,
    ItemResource,
    collection_docs,
    history_docs,
    item_docs,
)
from phoenix.schemas import FIRST_YEAR, LAST_YEAR, game_schema

GAMES = Collection(
    model=Game,
    schema=game_schema,
    singular="game",
    plural="games",
    not_found="The game does not exist! Please try a different game number!",
    description=f"A video-game catalogue: every field required, the year from {FIRST_YEAR} to {LAST_YEAR}.",
    write_scope=GAMES_WRITE,
    listing=Listing(
        name="games",
        model=Game,
        filters={
            "name": contains(Game.name),
            "platform": equals_folded(Game.platform),
            "publisher": equals_folded(Game.publisher),
            "genre": equals_folded(Game.genre),
            "year": equals(Game.year),
            **bounds("year", Game.year),
            # Changed since: served by the indexes on (creationdate, id) and (lastmodificationdate, id).
            **bounds("creationdate", Game.creationdate),
            **bounds("lastmodificationdate", Game.lastmodificationdate),
        },
        sorts={
            "id": plain(Game.id),
            "name": folded(Game.name),
            "platform": folded(Game.platform),
            "publisher": folded(Game.publisher),
            "genre": folded(Game.genre),
            "year": plain(Game.year),
            "creationdate": plain(Game.creationdate),
            "lastmodificationdate": plain(Game.lastmodificationdate),
        },
    ),
)

# Request examples for the docs, as the README's walk-through sends them.
EXAMPLE = {"name": "Doom", "platform": "PC", "publisher": "id Software", "genre": "Shooter", "year": 1993}
PATCH_EXAMPLE = {"year": 1994}


class GameList(CollectionResource):
    """GET /api/games (list, search by name), POST /api/games."""

    collection = GAMES
    docs = collection_docs(GAMES, EXAMPLE)


class GameItem(ItemResource):
    """GET, PUT, PATCH, DELETE /api/games/<id>."""

    collection = GAMES
    docs = item_docs(GAMES, EXAMPLE, PATCH_EXAMPLE)


class GameHistory(HistoryResource):
    """GET /api/games/<id>/history."""

    collection = GAMES
    docs = history_docs(GAMES)
