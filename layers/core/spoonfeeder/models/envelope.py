"""The response envelope of every HTTP answer (seed 001/003), and API Gateway's own error body.

Routes return these models, so Powertools validates each answer against the type the OpenAPI document
shows for it: the document and the answer cannot drift.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

DataT = TypeVar("DataT")


class Pagination(BaseModel):
    limit: int
    cursor: str | None
    hasMore: bool


class Envelope(BaseModel, Generic[DataT]):
    success: Literal[True] = True
    data: DataT
    requestId: str | None
    timestamp: str


class Page(BaseModel, Generic[DataT]):
    """The envelope of a list: one page of items and how to get the next one."""

    success: Literal[True] = True
    data: list[DataT]
    pagination: Pagination
    requestId: str | None
    timestamp: str


class ErrorBody(BaseModel):
    code: str = Field(description="A stable, machine-readable code, e.g. VALIDATION_ERROR or TASK_FINISHED.")
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorBody
    requestId: str | None
    timestamp: str


class GatewayMessage(BaseModel):
    """What API Gateway itself answers, before any function runs: its JWT authorizer's 401
    (`{"message": "Unauthorized"}`) and its throttling's 429 (`{"message": "Too Many Requests"}`)."""

    message: str
