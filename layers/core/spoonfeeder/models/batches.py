"""The API's view of a batch job."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class BatchCounters(BaseModel):
    total: int = Field(description="Lines read so far")
    rejected: int = Field(description="Lines refused (they come back as error lines)")
    created: int = Field(description="Tasks made")
    in_flight: int = Field(description="Tasks queued or running")
    succeeded: int
    failed: int
    cancelled: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


class BatchView(BaseModel):
    id: str
    name: str | None = None
    status: str = Field(description="awaiting_upload, fanning_out, running, finalizing, cancelling, completed, "
                                    "failed or cancelled")
    format: str | None = Field(default=None, description="openai, bedrock or native (detected from the first line)")
    input_key: str
    max_concurrency: int
    counters: BatchCounters
    outputs: dict[str, str] | None = Field(default=None, description=(
        "S3 keys of output.jsonl, errors.jsonl (OpenAI format) and manifest.json, once written; download them "
        "at GET /api/batches/{id}/output, /errors and /manifest"))
    error: dict[str, Any] | None = None
    created_at: str
    completed_at: str | None = None
