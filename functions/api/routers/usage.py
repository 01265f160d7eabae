"""/api/usage: the caller's token and cost totals, counted off the request path by the stream consumer."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from spoonfeeder import web
from spoonfeeder.models.envelope import Envelope
from spoonfeeder.models.usage_report import UsageGroupBy, UsageReport
from spoonfeeder.usage.report import MAX_DAYS, usage_report

from routers.deps import usage_store

router = Router()

@router.get("/", summary="My usage totals per day, provider or model, and overall",
            description=f"Finished tasks that reported usage, counted by the day they finished (UTC). `to` "
                        f"defaults to today and `from` to the 30 days ending at `to`; at most {MAX_DAYS} days. "
                        "Totals follow the tasks within seconds (they are counted from the table's stream).",
            **web.contract(Envelope[UsageReport], "Totals per group and overall", 400))
def get_usage(
    from_day: Annotated[str | None, Query(alias="from", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                          description="First day, YYYY-MM-DD (UTC)")] = None,
    to_day: Annotated[str | None, Query(alias="to", pattern=r"^\d{4}-\d{2}-\d{2}$",
                                        description="Last day, inclusive, YYYY-MM-DD (UTC)")] = None,
    group_by: Annotated[UsageGroupBy, Query(alias="groupBy")] = UsageGroupBy.DAY,
) -> Response[Envelope[UsageReport]]:
    report = usage_report(usage_store(), web.caller(router), from_day=from_day, to_day=to_day, group_by=group_by)
    return web.ok(router, report)
