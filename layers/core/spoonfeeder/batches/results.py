"""One output line per input line, in the input's format family, from the task a line became (as stored) or the
reason it was rejected. Pure: rows in, JSON objects out."""

from __future__ import annotations

import time
from typing import Any

from spoonfeeder.batches.formats import Format


def _usage(task: dict[str, Any]) -> dict[str, int]:
    usage = (task.get("result") or {}).get("usage") or {}
    return {k: int(usage.get(k) or 0) for k in ("input_tokens", "output_tokens", "total_tokens")}


def failure(row: dict[str, Any]) -> tuple[str, str] | None:
    """(code, message) when the line did not succeed (rejected, failed, cancelled), else None."""
    if row.get("entity") == "batch_line":
        error = row.get("error") or {}
        return str(error.get("code") or "INVALID_LINE"), str(error.get("message") or "")
    if row.get("status") == "succeeded":
        return None
    error = row.get("error") or {}
    if row.get("status") == "cancelled":
        return "CANCELLED", "the batch (or the task) was cancelled before this line ran"
    return str(error.get("code") or "FAILED"), str(error.get("message") or "")


def output_line(fmt: Format, row: dict[str, Any], text: str | None) -> dict[str, Any]:
    """`row`: a task item or a rejected-line item; `text`: the task's result text (read from S3 if kept there)."""
    if fmt is Format.OPENAI:
        return _openai(row, text)
    if fmt is Format.BEDROCK:
        return _bedrock(row, text)
    error = failure(row)
    line: dict[str, Any] = {"custom_id": row.get("custom_id"), "task_id": row.get("id"),
                            "status": row.get("status") or "rejected"}
    if error:
        line["error"] = {"code": error[0], "message": error[1]}
    else:
        line["result"] = {**(row.get("result") or {}), "text": text}
    return line


def _openai(row: dict[str, Any], text: str | None) -> dict[str, Any]:
    error = failure(row)
    line_id = f"batch_req_{row.get('id') or row.get('line')}"
    if error:
        return {"id": line_id, "custom_id": row.get("custom_id"), "response": None,
                "error": {"code": error[0], "message": error[1]}}
    kind = (row.get("metadata") or {}).get("batch_kind")
    result, usage = row.get("result") or {}, _usage(row)
    created = int(time.time())
    if kind == "images":
        body: dict[str, Any] = {"created": created, "data": [
            {"s3_key": o["key"], "content_type": o["content_type"]} for o in result.get("outputs") or []]}
    elif kind == "responses":
        body = {"id": f"resp_{row['id']}", "object": "response", "created_at": created, "status": "completed",
                "model": result.get("model") or row.get("model"),
                "output": [{"type": "message", "role": "assistant", "content": [
                    {"type": "output_text", "text": text or ""}]}],
                "usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"],
                          "total_tokens": usage["total_tokens"]}}
    else:
        body = {"id": f"chatcmpl-{row['id']}", "object": "chat.completion", "created": created,
                "model": result.get("model") or row.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text or ""},
                             "finish_reason": result.get("finish_reason") or "stop"}],
                "usage": {"prompt_tokens": usage["input_tokens"], "completion_tokens": usage["output_tokens"],
                          "total_tokens": usage["total_tokens"]}}
    return {"id": line_id, "custom_id": row.get("custom_id"),
            "response": {"status_code": 200, "request_id": row["id"], "body": body}, "error": None}


def _bedrock(row: dict[str, Any], text: str | None) -> dict[str, Any]:
    metadata = row.get("metadata") or {}
    line: dict[str, Any] = {"recordId": row.get("custom_id"),
                            "modelInput": row.get("model_input", metadata.get("model_input"))}
    error = failure(row)
    if error:
        line["error"] = {"errorCode": error[0], "errorMessage": error[1]}
        return line
    usage, result = _usage(row), row.get("result") or {}
    kind = metadata.get("batch_kind")
    if kind == "titan":
        line["modelOutput"] = {"inputTextTokenCount": usage["input_tokens"], "results": [
            {"tokenCount": usage["output_tokens"], "outputText": text or "",
             "completionReason": "FINISHED"}]}
    elif kind == "converse":
        line["modelOutput"] = {"output": {"message": {"role": "assistant", "content": [{"text": text or ""}]}},
                               "stopReason": "end_turn" if result.get("finish_reason") in (None, "stop", "end_turn")
                               else str(result.get("finish_reason")),
                               "usage": {"inputTokens": usage["input_tokens"], "outputTokens": usage["output_tokens"],
                                         "totalTokens": usage["total_tokens"]}}
    else:
        line["modelOutput"] = {"id": f"msg_{row['id']}", "type": "message", "role": "assistant",
                               "model": result.get("model") or row.get("model"),
                               "content": [{"type": "text", "text": text or ""}],
                               "stop_reason": result.get("finish_reason") or "end_turn",
                               "usage": {"input_tokens": usage["input_tokens"],
                                         "output_tokens": usage["output_tokens"]}}
    return line


def manifest(counts: dict[str, Any]) -> dict[str, Any]:
    """Bedrock's manifest.json.out fields, plus cost."""
    return {"totalRecordCount": counts["total"],
            "processedRecordCount": counts["succeeded"] + counts["failed"] + counts["cancelled"] + counts["rejected"],
            "successRecordCount": counts["succeeded"],
            "errorRecordCount": counts["failed"] + counts["cancelled"] + counts["rejected"],
            "inputTokenCount": counts["input_tokens"], "outputTokenCount": counts["output_tokens"],
            "costUsd": counts["cost_usd"]}
