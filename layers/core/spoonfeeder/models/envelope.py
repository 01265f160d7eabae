"""The response envelope of every HTTP answer (seed 001/003)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

DataT = TypeVar("DataT")


class Pagination(BaseModel):
    limit: int
    cursor: str | None
    hasMore: bool


class Envelope(BaseModel, Generic[DataT]):
    success: bool = True
    data: DataT
    pagination: Pagination | None = None


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    success: bool = False
    error: ErrorBody
    requestId: str | None
    timestamp: str
