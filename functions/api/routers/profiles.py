"""/api/profiles: the user's presets (saved task settings with a prompt template and a fallback chain)."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from pydantic import BaseModel
from spoonfeeder import ids, web
from spoonfeeder.models.envelope import Envelope, Page
from spoonfeeder.models.profiles import ProfileFields, ProfileView

from routers.deps import profile_service

router = Router()

ProfileId = Annotated[str, Path(min_length=26, max_length=26, pattern=ids.ULID_PATTERN)]


class ProfileDeleted(BaseModel):
    id: str
    deleted: Literal[True]


@router.post("/", summary="Save a preset",
             **web.contract(Envelope[ProfileView], "The saved preset", 422, status=201, body=True))
def create_profile(body: Annotated[ProfileFields, Body()]) -> Response[Envelope[ProfileView]]:
    view = profile_service().create(web.caller(router), body)
    return web.ok(router, view, status=201, headers={"Location": f"/api/profiles/{view.id}"})


@router.get("/", summary="List my presets, newest first", **web.contract(Page[ProfileView], "A page of presets", 400))
def list_profiles(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                  cursor: Annotated[str | None, Query(max_length=2000)] = None) -> Response[Page[ProfileView]]:
    views, next_cursor = profile_service().list(web.caller(router), limit=limit, after=cursor)
    return web.ok(router, views,
                  pagination={"limit": limit, "cursor": next_cursor, "hasMore": next_cursor is not None})


@router.get("/<profile_id>", summary="Get a preset", **web.contract(Envelope[ProfileView], "The preset", 400, 404))
def get_profile(profile_id: ProfileId) -> Response[Envelope[ProfileView]]:
    return web.ok(router, profile_service().get(web.caller(router), profile_id).view())


@router.put("/<profile_id>", summary="Replace a preset",
            **web.contract(Envelope[ProfileView], "The preset as now saved", 404, 422, body=True))
def replace_profile(profile_id: ProfileId, body: Annotated[ProfileFields, Body()]) -> Response[Envelope[ProfileView]]:
    return web.ok(router, profile_service().replace(web.caller(router), profile_id, body))


@router.delete("/<profile_id>", summary="Delete a preset (tasks created from it keep their own copy)",
               **web.contract(Envelope[ProfileDeleted], "{id, deleted: true}", 400, 404))
def delete_profile(profile_id: ProfileId) -> Response[Envelope[ProfileDeleted]]:
    profile_service().delete(web.caller(router), profile_id)
    return web.ok(router, ProfileDeleted(id=profile_id, deleted=True))
