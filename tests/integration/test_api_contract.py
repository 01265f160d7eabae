"""The API's contract for malformed input and its OpenAPI document: every bad request is a 4xx envelope that
changes nothing, and the document lists what the function really answers."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest

from tests.conftest import LambdaContext, drain, http_event

TEXT = {"type": "text", "provider": "openai", "prompt": "Say hello"}


def send(api: Any, event: dict[str, Any]) -> tuple[int, Any]:
    response = api.module.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"]) if response.get("body") else None


def raw(path: str, body: bytes, content_type: str | None, *, user: str | None = "contract-user") -> dict[str, Any]:
    """A request whose body the gateway passed on base64-encoded (what it does for non-text bodies)."""
    event = http_event("POST", path, user=user)
    event["headers"].pop("content-type")
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return event


def text(path: str, body: str, content_type: str | None = "application/json") -> dict[str, Any]:
    event = http_event("POST", path, user="contract-user", raw_body=body)
    event["headers"].pop("content-type")
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    return event


@pytest.fixture
def unchanged(stack: Any, functions: Any) -> Any:
    """Asserts that the request wrote nothing to the table (counters aside) and queued nothing."""
    table, queue = stack.resources["Table"], str(stack.resources["LlmTasksQueue"])
    drain(queue)

    def count() -> tuple[int, str]:
        items = boto3.client("dynamodb").scan(TableName=table, Select="COUNT", FilterExpression="sk <> :c",
                                              ExpressionAttributeValues={":c": {"S": "COUNTER"}})["Count"]
        queued = boto3.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
        return items, queued

    before = count()
    yield
    assert count() == before


@pytest.mark.parametrize("path", ["/api/tasks", "/api/auth/login"])
@pytest.mark.parametrize(("body", "content_type"), [
    (b'{"type": "text"}', "text/plain"),
    (b"<task><prompt>hi</prompt></task>", "application/xml"),
    (b"\x00\x01\x02binary", "application/octet-stream"),
    (b"--x\r\nContent-Disposition: form-data; name=prompt\r\n\r\nhi\r\n--x--", "multipart/form-data"),
    (b"prompt=hi&type=text", "application/x-www-form-urlencoded"),
    (json.dumps(TEXT).encode(), None),
    (json.dumps(TEXT).encode("utf-16"), "application/json; charset=utf-16"),
])
def test_a_body_that_is_not_json_is_415(api: Any, unchanged: Any, path: str, body: bytes,
                                        content_type: str | None) -> None:
    status, answer = send(api, raw(path, body, content_type))
    assert (status, answer["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert answer["success"] is False and answer["requestId"] and answer["timestamp"]


@pytest.mark.parametrize("event", [
    raw("/api/tasks", b'{"type": "text", "prompt": "\xff\xfe"}', "application/json"),  # invalid UTF-8
    raw("/api/tasks", json.dumps(TEXT).encode("utf-16"), "application/json"),  # UTF-16 sent as JSON
    {**raw("/api/tasks", b"{}", "application/json"), "body": "not base64 at all!"},
    text("/api/tasks", "[" * 100_000),
    text("/api/tasks", json.dumps({**TEXT, "options": {"stop": "X"}}).replace('"X"', "[" * 5000 + "]" * 5000)),
    text("/api/tasks", json.dumps({**TEXT, "options": {"temperature": "X"}}).replace('"X"', "NaN")),
    text("/api/tasks", '{"type": "text", "provider": "openai", "prompt": "\\ud800"}'),  # a lone surrogate
    text("/api/auth/login", '{"username": "a", "password": ' + "[" * 3000 + "]" * 3000 + "}"),
], ids=["invalid-utf8", "utf16", "bad-base64", "deep-array", "deep-stop", "nan", "lone-surrogate", "deep-login"])
def test_an_undecodable_or_too_deep_body_is_400(api: Any, unchanged: Any, event: dict[str, Any]) -> None:
    status, answer = send(api, event)
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize("options", [
    {"seed": 10**40}, {"seed": -(10**40)}, {"seed": 2**64}, {"seed": "1" * 5000},
    {"top_p": 1e-320}, {"temperature": 1e-320}, {"temperature": 1e300},
    {"stop": ["a", "b", "c", "d", "e"]}, {"stop": ["x" * 150_000]}, {"stop": ["x" * 60_000] * 4}, {"stop": [""]},
], ids=lambda o: f"{next(iter(o))}-{str(next(iter(o.values())))[:12]}")
def test_options_no_provider_or_table_can_take_are_400(api: Any, unchanged: Any, options: dict[str, Any]) -> None:
    body = json.dumps({**TEXT, "options": options}).replace('"' + "1" * 5000 + '"', "1" * 5000)  # a 5000-digit number
    status, answer = send(api, text("/api/tasks", body))
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_options_at_the_providers_limits_are_accepted(api: Any, llm_queue_drained: Any) -> None:
    options = {"seed": 2**63 - 1, "stop": ["x" * 256] * 4, "temperature": 2, "top_p": 1e-6}
    status, answer = send(api, text("/api/tasks", json.dumps({**TEXT, "options": options})))
    assert status == 201, answer
    assert answer["data"]["options"] == options


def test_a_body_over_one_mebibyte_is_413_before_parsing(api: Any, unchanged: Any) -> None:
    body = json.dumps({**TEXT, "prompt": "x" * (1024 * 1024)})
    status, answer = send(api, text("/api/tasks", body))
    assert (status, answer["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert answer["error"]["details"]["maxBytes"] == 1024 * 1024


def test_a_finished_task_is_kept_until_purged(api: Any, llm_queue_drained: Any) -> None:
    task_id = api("POST", "/api/tasks", user="purger", body=TEXT)[1]["data"]["id"]
    status, answer, _ = api("DELETE", f"/api/tasks/{task_id}", user="purger", query={"purge": "true"})
    assert (status, answer["error"]["code"]) == (409, "TASK_NOT_FINISHED")  # purge never cancels
    assert api("GET", f"/api/tasks/{task_id}", user="purger")[1]["data"]["status"] == "queued"
    assert api("DELETE", f"/api/tasks/{task_id}", user="purger")[1]["data"]["status"] == "cancelled"
    for _ in range(2):  # repeated DELETEs keep the history
        status, answer, _ = api("DELETE", f"/api/tasks/{task_id}", user="purger")
        assert (status, answer["error"]["code"]) == (409, "TASK_FINISHED")
    events = api("GET", f"/api/tasks/{task_id}/events", user="purger")[1]["data"]
    assert [e["type"] for e in events][-1] == "task:cancelled"
    assert api("DELETE", f"/api/tasks/{task_id}", user="intruder", query={"purge": "true"})[0] == 404
    status, answer, _ = api("DELETE", f"/api/tasks/{task_id}", user="purger", query={"purge": "true"})
    assert (status, answer["data"]) == (200, {"id": task_id, "deleted": True})
    assert api("GET", f"/api/tasks/{task_id}/events", user="purger")[0] == 404


@pytest.fixture
def llm_queue_drained(stack: Any, functions: Any) -> None:
    drain(str(stack.resources["LlmTasksQueue"]))


# ------------------------------------------------------------------------------------------------ the document
@pytest.fixture(scope="module")
def document(api: Any) -> dict[str, Any]:
    return json.loads(send_raw(api, "/api/openapi.json"))


def send_raw(api: Any, path: str) -> str:
    return str(api.module.lambda_handler(http_event("GET", path, user=None), LambdaContext())["body"])


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in document["paths"].items() for method, op in item.items()]


PUBLIC = {("POST", "/api/auth/login"), ("POST", "/api/auth/refresh"), ("POST", "/api/auth/logout"),
          ("GET", "/api/health"), ("GET", "/api/version")}


def test_the_document_declares_the_bearer_scheme_on_authorized_routes(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    ops = operations(document)
    assert {(m, p) for m, p, _ in ops} >= PUBLIC | {("POST", "/api/tasks"), ("DELETE", "/api/tasks/{task_id}")}
    for method, path, op in ops:
        if (method, path) in PUBLIC:
            assert "security" not in op, path
            continue
        assert op["security"] == [{"bearerAuth": []}], path
        gateway_401 = op["responses"]["401"]["content"]["application/json"]["schema"]
        assert gateway_401 == {"$ref": "#/components/schemas/GatewayMessage"}, path


def test_the_document_lists_envelopes_and_no_framework_422(document: dict[str, Any]) -> None:
    assert not {"HTTPValidationError", "ValidationError"} & set(document["components"]["schemas"])
    create = document["paths"]["/api/tasks"]["post"]["responses"]
    assert {"201", "400", "401", "409", "413", "415", "422", "429", "503"} == set(create)
    assert create["415"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    delete = document["paths"]["/api/tasks/{task_id}"]["delete"]
    assert "409" in delete["responses"] and any(p["name"] == "purge" for p in delete["parameters"])
    for path in ("/api/health", "/api/version", "/api/auth/me"):
        ok = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok.get("type") != "string" and "$ref" in ok, path


def test_answers_match_their_documented_models(api: Any, document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    _, health, _ = api("GET", "/api/health", user=None)
    assert set(health["data"]) == set(schemas["Health"]["properties"])
    assert set(health["data"]["checks"]) == {"table", "agent_registry", "llm_queue", "gpu_queue", "bucket",
                                           "provider_secret"}
    assert health["data"]["provider_keys"]["openai"] == {"configured": True, "simulated": False}
    _, version, _ = api("GET", "/api/version", user=None)
    assert set(version) == set(schemas["Envelope_Version_"]["properties"])
    _, me, _ = api("GET", "/api/auth/me", user="contract-user")
    assert me["data"]["id"] == "contract-user" and set(me["data"]) == set(schemas["Me"]["properties"])
