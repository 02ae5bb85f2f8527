"""/api/games: the video-game catalogue and its items."""

from phoenix.models import Game
from phoenix.resources.base import Collection, CollectionResource, HistoryResource, ItemResource
from phoenix.schemas import game_schema

GAMES = Collection(
    model=Game,
    schema=game_schema,
    singular="game",
    plural="games",
    not_found="The game does not exist! Please try a different game number!",
    filters=("name",),
)


class GameList(CollectionResource):
    """GET /api/games (list, search by name), POST /api/games."""

    collection = GAMES


class GameItem(ItemResource):
    """GET, PUT, PATCH, DELETE /api/games/<id>."""

    collection = GAMES


class GameHistory(HistoryResource):
    """GET /api/games/<id>/history."""

    collection = GAMES
