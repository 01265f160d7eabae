"""Image tasks end to end inside one process: the API function creates them, the worker function runs them
against the fake OpenAI through the official SDK, the outputs land in moto's S3, and the download route
redirects the owner (only) to a presigned URL that serves the very bytes the provider made."""

from __future__ import annotations

import base64
from typing import Any

import boto3
import httpx
import pytest
from localcloud.fakes.openai_server import UNSAFE_MARKER, colour_of, solid_png

from tests.integration.test_api_tasks import queued_messages, table_items
from tests.integration.test_llm_worker import events_of, run_until_settled

IMAGE = {"type": "image", "provider": "openai", "prompt": "a lighthouse at dusk"}


def task_items(stack: Any, task_id: str) -> list[dict[str, Any]]:
    """The task's raw table items (the task and its events), as DynamoDB stores them."""
    pages = boto3.client("dynamodb").get_paginator("query").paginate(
        TableName=stack.resources["Table"], KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"TASK#{task_id}"}})
    return [item for page in pages for item in page["Items"]]


def run_image(api: Any, functions: Any, queues: dict, body: dict[str, Any]) -> dict[str, Any]:
    status, created, _ = api("POST", "/api/tasks", body=body)
    assert status == 201, created
    return run_until_settled(functions, queues, created["data"]["id"], api)


def test_an_image_task_stores_each_image_in_s3_and_only_references_in_the_table(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any,
) -> None:
    body = {**IMAGE, "image": {"size": "1536x1024", "n": 2, "quality": "low"}}
    task = run_image(api, functions, queues, body)
    assert task["status"] == "succeeded" and task["model"] == "gpt-image-1"
    assert task["request_snapshot"]["image"] == {"size": "1536x1024", "n": 2, "quality": "low"}
    sent = openai_fake.requests[-1]["json"]
    assert sent["size"] == "1536x1024" and sent["n"] == 2 and "response_format" not in sent

    expected = solid_png(1536, 1024, colour_of(IMAGE["prompt"]))
    outputs = task["result"]["outputs"]
    assert [o["index"] for o in outputs] == [0, 1]
    s3 = boto3.client("s3")
    for output in outputs:
        assert output["key"] == f"outputs/user-a/{task['id']}/attempt-1/{output['index']}.png"
        assert (output["content_type"], output["width"], output["height"]) == ("image/png", 1536, 1024)
        stored = s3.get_object(Bucket=stack.resources["Bucket"], Key=output["key"])
        assert stored["ContentType"] == "image/png"
        assert stored["Body"].read() == expected and output["bytes"] == len(expected)
    usage = task["result"]["usage"]
    assert usage["input_tokens"] == 4 and usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]

    progress = [e["data"] for e in events_of(api, task["id"]) if e["type"] == "task:progress"]
    assert [p["stage"] for p in progress] == ["generating", "received", "stored", "stored"]
    assert [p["output"] for p in progress[2:]] == [{k: v for k, v in o.items() if v is not None} for o in outputs]
    # Neither the task nor any of its events holds image bytes: no base64 of the PNG, no b64_json.
    raw = str(task_items(stack, task["id"]))
    assert base64.b64encode(expected)[:24].decode() not in raw and "b64_json" not in raw


def test_dall_e_3_asks_for_base64_and_keeps_the_revised_prompt(
    api: Any, functions: Any, queues: dict, openai_fake: Any,
) -> None:
    task = run_image(api, functions, queues, {**IMAGE, "model": "dall-e-3",
                                              "image": {"size": "1024x1792", "quality": "hd"}})
    assert task["status"] == "succeeded"
    assert openai_fake.requests[-1]["json"]["response_format"] == "b64_json"
    assert task["result"]["revised_prompt"] == f"A simulated rendering of: {IMAGE['prompt']}"
    [output] = task["result"]["outputs"]
    assert (output["width"], output["height"]) == (1024, 1792)
    assert task["result"]["usage"] is None  # dall-e reports no tokens


@pytest.mark.parametrize(("body", "problem"), [
    ({"image": {"size": "1792x1024"}}, "gpt-image-1 takes image.size"),
    ({"image": {"quality": "hd"}}, "gpt-image-1 takes image.quality"),
    ({"image": {"n": 11}}, "less than or equal to 10"),
    ({"image": {"n": 0}}, "greater than or equal to 1"),
    ({"image": {"size": "big"}}, "should match pattern"),
    ({"image": {"style": "vivid"}}, "Extra inputs"),
    ({"model": "dall-e-3", "image": {"n": 2}}, "dall-e-3 makes at most 1 image"),
    ({"model": "dall-e-3", "image": {"background": "transparent"}}, "dall-e-3 takes no image.background"),
    ({"model": "dall-e-3", "image": {"quality": "high"}}, "dall-e-3 takes image.quality hd | standard"),
    ({"model": "dall-e-2", "image": {"size": "1024x1536"}}, "dall-e-2 takes image.size"),
    ({"model": "dall-e-2", "image": {"quality": "hd"}}, "dall-e-2 takes no image.quality"),
    ({"options": {"temperature": 0.5}}, "not `system` or text `options`"),
    ({"system": "be an artist"}, "not `system` or text `options`"),
    ({"type": "text", "image": {"n": 1}}, "`image` applies to image tasks only"),
])
def test_image_parameters_a_model_does_not_take_are_refused_and_nothing_is_written(
    api: Any, stack: Any, queues: dict, body: dict[str, Any], problem: str,
) -> None:
    before = table_items(stack)
    status, answer, _ = api("POST", "/api/tasks", body={**IMAGE, **body})
    assert (status, answer["success"], answer["error"]["code"]) == (400, False, "VALIDATION_ERROR")
    assert problem in str(answer["error"]["details"])
    assert table_items(stack) == before and queued_messages(queues["LlmTasksQueue"]) == 0


def test_a_content_policy_refusal_fails_at_once(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    for model in ("gpt-image-1", "dall-e-2"):  # moderation_blocked and content_policy_violation
        task = run_image(api, functions, queues, {**IMAGE, "model": model, "prompt": f"a {UNSAFE_MARKER} scene"})
        assert task["status"] == "failed" and task["result"] is None
        assert task["error"]["code"] == "CONTENT_FILTERED" and task["error"]["retryable"] is False
        assert "safety system" in task["error"]["details"]["provider_message"]
        assert "task:retrying" not in [e["type"] for e in events_of(api, task["id"])]
    assert openai_fake.image_calls == 2


def test_a_rate_limited_image_request_is_retried(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.fail_next(status=429, retry_after=1)
    task = run_image(api, functions, queues, IMAGE)
    assert task["status"] == "succeeded" and len(task["result"]["outputs"]) == 1
    assert openai_fake.image_calls == 2
    retrying = [e["data"] for e in events_of(api, task["id"]) if e["type"] == "task:retrying"]
    assert [r["error"]["code"] for r in retrying] == ["RATE_LIMITED"]


def test_a_new_attempt_writes_under_its_own_prefix(api: Any, functions: Any, queues: dict, openai_fake: Any) -> None:
    openai_fake.fail_next(status=401)
    failed = run_image(api, functions, queues, IMAGE)
    assert failed["status"] == "failed" and failed["error"]["code"] == "INVALID_API_KEY"
    assert api("POST", f"/api/tasks/{failed['id']}/retry")[0] == 202
    task = run_until_settled(functions, queues, failed["id"], api)
    assert task["status"] == "succeeded" and task["attempt"] == 2
    assert task["result"]["outputs"][0]["key"].endswith(f"{task['id']}/attempt-2/0.png")


def test_the_owner_is_redirected_to_the_output_and_nobody_else(
    api: Any, functions: Any, queues: dict, openai_fake: Any,
) -> None:
    task = run_image(api, functions, queues, {**IMAGE, "image": {"size": "1024x1024", "background": "transparent"}})
    url = f"/api/tasks/{task['id']}/outputs/0"
    status, _, headers = api("GET", url)
    assert status == 302 and headers["Cache-Control"] == "no-store"
    downloaded = httpx.get(headers["Location"])
    assert downloaded.status_code == 200
    assert downloaded.content == solid_png(1024, 1024, colour_of(IMAGE["prompt"]), transparent=True)
    assert downloaded.headers["content-type"] == "image/png"
    assert downloaded.headers["content-disposition"] == f'attachment; filename="{task["id"]}-0.png"'
    assert "X-Amz-Expires=300" in headers["Location"]

    for user, path in [("user-b", url), ("user-a", f"/api/tasks/{task['id']}/outputs/1")]:
        status, body, headers = api("GET", path, user=user)
        assert (status, body["error"]["code"]) == (404, "NOT_FOUND") and "Location" not in headers


def test_purging_a_task_deletes_the_outputs_of_every_attempt(
    api: Any, functions: Any, queues: dict, openai_fake: Any, stack: Any,
) -> None:
    openai_fake.fail_next(status=401)
    failed = run_image(api, functions, queues, IMAGE)
    s3, bucket, prefix = boto3.client("s3"), stack.resources["Bucket"], f"outputs/user-a/{failed['id']}/"
    s3.put_object(Bucket=bucket, Key=f"{prefix}attempt-1/0.png", Body=b"left by an interrupted run")
    api("POST", f"/api/tasks/{failed['id']}/retry")
    task = run_until_settled(functions, queues, failed["id"], api)
    assert len(s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]) == 2
    assert api("DELETE", f"/api/tasks/{task['id']}", query={"purge": "true"})[0] == 200
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)


def test_a_task_without_outputs_answers_404(api: Any, queues: dict) -> None:
    queued = api("POST", "/api/tasks", body=IMAGE)[1]["data"]  # not run: still queued
    status, body, _ = api("GET", f"/api/tasks/{queued['id']}/outputs/0")
    assert (status, body["error"]["code"]) == (404, "NOT_FOUND")
    status, body, _ = api("GET", f"/api/tasks/{queued['id']}/outputs/-1")
    assert (status, body["error"]["code"]) == (400, "VALIDATION_ERROR")
