"""/api/batches: batch jobs (a JSONL file put at `batches/<owner>/<batch id>/input.jsonl` in the bucket): list,
read, cancel, and download their output files."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from spoonfeeder import web
from spoonfeeder.batches.service import view
from spoonfeeder.models.batches import BatchView
from spoonfeeder.models.envelope import Envelope, Page

from routers.deps import batch_service
from routers.tasks import OUTPUT_URL_SECONDS

router = Router()

BatchId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]


@router.get("/", summary="List my batches, newest first", **web.contract(Page[BatchView], "A page of batches", 400))
def list_batches(limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 cursor: Annotated[str | None, Query(max_length=2000)] = None) -> Response[Page[BatchView]]:
    views, next_cursor = batch_service().list(web.caller(router), limit=limit, after=cursor)
    return web.ok(router, views, pagination={"limit": limit, "cursor": next_cursor, "hasMore": next_cursor is not None})


@router.get("/<batch_id>", summary="A batch: status, counters and output keys",
            **web.contract(Envelope[BatchView], "The batch", 400, 404))
def get_batch(batch_id: BatchId) -> Response[Envelope[BatchView]]:
    return web.ok(router, view(batch_service().get(web.caller(router), batch_id)))


@router.post("/<batch_id>/cancel", summary="Cancel a batch: no more lines are read, tasks not started are "
                                           "cancelled, and the output is written with what ran",
             **web.contract(Envelope[BatchView], "The batch, cancelling", 400, 404, 409, status=202))
def cancel_batch(batch_id: BatchId) -> Response[Envelope[BatchView]]:
    return web.ok(router, batch_service().cancel(web.caller(router), batch_id), status=202)


def _download(batch_id: str, which: str) -> Response[None]:
    url = batch_service().download_url(web.caller(router), batch_id, which, expires_in=OUTPUT_URL_SECONDS)
    return Response(status_code=302, headers={"Location": url, "Cache-Control": "no-store"})


_REDIRECT = {"headers": {"Location": "The presigned download URL"}, "status": 302}


@router.get("/<batch_id>/output", summary="Download output.jsonl (one line per input line)",
            **web.contract(None, "Redirect to the file's short-lived download URL", 400, 404, **_REDIRECT))
def download_output(batch_id: BatchId) -> Response[None]:
    return _download(batch_id, "output")


@router.get("/<batch_id>/errors", summary="Download errors.jsonl (OpenAI format: the lines that did not succeed)",
            **web.contract(None, "Redirect to the file's short-lived download URL", 400, 404, **_REDIRECT))
def download_errors(batch_id: BatchId) -> Response[None]:
    return _download(batch_id, "errors")


@router.get("/<batch_id>/manifest", summary="Download manifest.json (Bedrock's record and token counts, and cost)",
            **web.contract(None, "Redirect to the file's short-lived download URL", 400, 404, **_REDIRECT))
def download_manifest(batch_id: BatchId) -> Response[None]:
    return _download(batch_id, "manifest")
