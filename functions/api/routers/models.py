"""/api/models: the models tasks can name, with their limits and prices (one id scheme `{provider}/{name}`)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from spoonfeeder import web
from spoonfeeder.models.catalog import Capability, ModelInfo
from spoonfeeder.models.envelope import Envelope, Page
from spoonfeeder.models.kinds import Provider

from routers.deps import model_directory

router = Router()


@router.get("/", summary="List the models, in id order",
            description="Cloud models come from the catalog (limits, list prices). A task may still name a "
                        "model that is not listed: it runs with the provider's own limits and has no cost.",
            **web.contract(Page[ModelInfo], "A page of models", 400))
def list_models(
    provider: Annotated[Provider | None, Query()] = None,
    capability: Annotated[Capability | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    cursor: Annotated[str | None, Query(max_length=300, description="`pagination.cursor` of the previous page")]
    = None,
) -> Response[Page[ModelInfo]]:
    web.caller(router)  # signed-in users only, as every non-public route (the gateway checks first)
    models, next_id = model_directory().page(provider=provider, capability=capability, after=cursor, limit=limit)
    return web.ok(router, models, pagination={"limit": limit, "cursor": next_id, "hasMore": next_id is not None})


@router.get("/<provider>/<model_name>", summary="Get a model by its id `{provider}/{name}`",
            description="The name is the rest of the path, so names holding ':' or '/' need no escaping.",
            **web.contract(Envelope[ModelInfo], "The model", 400, (404, "No such model (NOT_FOUND)")))
def get_model(
    provider: Annotated[Provider, Path()],
    model_name: Annotated[str, Path(min_length=1, max_length=200)],
) -> Response[Envelope[ModelInfo]]:
    web.caller(router)
    return web.ok(router, model_directory().get(provider, model_name))
