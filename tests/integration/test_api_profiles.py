"""Presets through the API function against moto's server: CRUD, ownership, validation, and tasks created from
a preset (the template rendered, nothing written on bad input)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import pytest
from spoonfeeder import settings
from spoonfeeder.settings import ApiSettings

from tests.conftest import drain

PRESET = {
    "name": "Summary", "description": "short summaries", "type": "text", "provider": "openai",
    "model": "gpt-4o", "options": {"temperature": 0.2, "max_tokens": 300},
    "prompt_template": "Summarise {text} in {words} words. Literal {{braces}} stay.",
    "system": "You write for {audience}.",
    "fallbacks": [{"provider": "openai", "model": "gpt-4.1-mini"}],
}


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:12]}"  # each test its own user: the table is shared by the session


@pytest.fixture
def llm_queue(stack: Any, functions: Any) -> str:
    url = str(stack.resources["LlmTasksQueue"])
    drain(url)
    return url


def owned_items(stack: Any, user: str) -> list[dict[str, Any]]:
    """Every item the user owns (presets, tasks, events), so a refused request can be shown to write none."""
    scanned = boto3.client("dynamodb").scan(
        TableName=stack.resources["Table"], FilterExpression="#o = :u OR pk = :p",
        ExpressionAttributeNames={"#o": "owner"},
        ExpressionAttributeValues={":u": {"S": user}, ":p": {"S": f"OWNER#{user}"}})
    return scanned["Items"]


def save(api: Any, user: str, **changes: Any) -> dict[str, Any]:
    status, body, headers = api("POST", "/api/profiles", user=user, body={**PRESET, **changes})
    assert status == 201, body
    assert headers["Location"] == f"/api/profiles/{body['data']['id']}"
    return body["data"]


def test_a_preset_is_saved_read_listed_replaced_and_deleted(api: Any, user: str) -> None:
    saved = save(api, user)
    assert {k: saved[k] for k in PRESET} == PRESET and saved["created_at"] == saved["updated_at"]
    assert "owner" not in saved
    assert api("GET", f"/api/profiles/{saved['id']}", user=user)[1]["data"] == saved

    changed = {**PRESET, "name": "Shorter", "fallbacks": [], "system": None}
    status, replaced, _ = api("PUT", f"/api/profiles/{saved['id']}", user=user, body=changed)
    assert status == 200 and replaced["data"]["name"] == "Shorter" and replaced["data"]["fallbacks"] == []
    assert replaced["data"]["created_at"] == saved["created_at"]
    assert replaced["data"]["updated_at"] >= saved["updated_at"]
    assert api("GET", f"/api/profiles/{saved['id']}", user=user)[1]["data"] == replaced["data"]

    status, deleted, _ = api("DELETE", f"/api/profiles/{saved['id']}", user=user)
    assert status == 200 and deleted["data"] == {"id": saved["id"], "deleted": True}
    assert api("GET", f"/api/profiles/{saved['id']}", user=user)[0] == 404
    assert api("DELETE", f"/api/profiles/{saved['id']}", user=user)[0] == 404
    assert api("PUT", f"/api/profiles/{saved['id']}", user=user, body=PRESET)[0] == 404


def test_the_list_pages_newest_first_with_a_cursor_bound_to_its_owner(api: Any, user: str) -> None:
    names = [save(api, user, name=f"p{i}")["name"] for i in range(5)]
    status, first, _ = api("GET", "/api/profiles", user=user, query={"limit": "2"})
    assert status == 200 and [p["name"] for p in first["data"]] == ["p4", "p3"]
    assert first["pagination"]["hasMore"] is True
    seen = [p["name"] for p in first["data"]]
    cursor = first["pagination"]["cursor"]
    while cursor:
        page = api("GET", "/api/profiles", user=user, query={"limit": "2", "cursor": cursor})[1]
        seen += [p["name"] for p in page["data"]]
        cursor = page["pagination"]["cursor"]
    assert seen == names[::-1]
    other = f"{user}-other"
    status, refused, _ = api("GET", "/api/profiles", user=other, query={"cursor": first["pagination"]["cursor"]})
    assert status == 400 and refused["error"]["code"] == "INVALID_CURSOR"
    assert api("GET", "/api/profiles", user=other)[1]["data"] == []


def test_another_users_preset_is_not_found_and_stays_untouched(api: Any, user: str) -> None:
    saved = save(api, user)
    intruder = f"{user}-intruder"
    for method, body in (("GET", None), ("PUT", {**PRESET, "name": "mine now"}), ("DELETE", None)):
        status, answer, _ = api(method, f"/api/profiles/{saved['id']}", user=intruder, body=body)
        assert status == 404 and answer["error"]["code"] == "NOT_FOUND"
    assert api("GET", f"/api/profiles/{saved['id']}", user=user)[1]["data"] == saved
    status, refused, _ = api("POST", "/api/tasks", user=intruder, body={"profile_id": saved["id"],
                                                                        "variables": {}})
    assert status == 422 and refused["error"]["code"] == "PROFILE_NOT_FOUND"


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"prompt_template": "Hello {name"}, 400, "INVALID_TEMPLATE"),
    ({"prompt_template": "Hello }"}, 400, "INVALID_TEMPLATE"),
    ({"prompt_template": "Hello {user.name}"}, 400, "INVALID_TEMPLATE"),
    ({"prompt_template": "Hello {0}"}, 400, "INVALID_TEMPLATE"),
    ({"system": "You are {role!r}"}, 400, "INVALID_TEMPLATE"),
    ({"prompt_template": "é" * 20_000}, 400, "VALIDATION_ERROR"),  # 40,000 bytes of UTF-8 > 32 KiB
    ({"prompt_template": ""}, 400, "VALIDATION_ERROR"),
    ({"fallbacks": [{"provider": "openai", "model": "gpt-4o"}]}, 400, "DUPLICATE_FALLBACK"),
    ({"fallbacks": [{"provider": "openai", "model": "a"}, {"provider": "openai", "model": "a"}]}, 400,
     "DUPLICATE_FALLBACK"),
    ({"fallbacks": [{"provider": "openai", "model": f"m{i}"} for i in range(6)]}, 400, "VALIDATION_ERROR"),
    ({"fallbacks": [{"provider": "comfyui", "model": "sdxl"}]}, 422, "NOT_AVAILABLE"),
    ({"type": "video"}, 422, "UNSUPPORTED_COMBINATION"),
    ({"options": {"temperature": 7}}, 400, "VALIDATION_ERROR"),
    ({"owner": "someone-else"}, 400, "VALIDATION_ERROR"),
])
def test_an_invalid_preset_is_refused_and_nothing_is_written(
    api: Any, stack: Any, user: str, changes: dict[str, Any], status: int, code: str,
) -> None:
    answer = api("POST", "/api/profiles", user=user, body={**PRESET, **changes})
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert owned_items(stack, user) == []
    saved = save(api, user)
    answer = api("PUT", f"/api/profiles/{saved['id']}", user=user, body={**PRESET, **changes})
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    assert api("GET", f"/api/profiles/{saved['id']}", user=user)[1]["data"] == saved


def test_a_task_from_a_preset_has_the_rendered_prompt_the_presets_settings_and_its_chain(
    api: Any, user: str, llm_queue: str,
) -> None:
    saved = save(api, user)
    variables = {"text": "the {report}", "words": "20", "audience": "children"}
    status, created, _ = api("POST", "/api/tasks", user=user, body={"profile_id": saved["id"], "variables": variables})
    assert status == 201, created
    task = created["data"]
    assert (task["type"], task["provider"], task["model"], task["name"]) == ("text", "openai", "gpt-4o", "Summary")
    snapshot = task["request_snapshot"]
    assert snapshot["system"] == "You write for children."
    assert snapshot["messages"] == [
        {"role": "user", "content": "Summarise the {report} in 20 words. Literal {braces} stay."}]
    assert snapshot["options"] == {"temperature": 0.2, "max_tokens": 300}
    assert snapshot["profile_id"] == saved["id"] and snapshot["variables"] == variables
    assert snapshot["fallbacks"] == [{"provider": "openai", "model": "gpt-4.1-mini"}]
    message = json.loads(boto3.client("sqs").receive_message(QueueUrl=llm_queue)["Messages"][0]["Body"])
    assert message["task_id"] == task["id"]
    # The preset changes later: the task keeps what it was created with.
    api("PUT", f"/api/profiles/{saved['id']}", user=user, body={**PRESET, "prompt_template": "other {text}"})
    assert api("GET", f"/api/tasks/{task['id']}", user=user)[1]["data"]["request_snapshot"] == snapshot


def test_the_bodys_explicit_fields_win_over_the_presets(api: Any, user: str, llm_queue: str) -> None:
    saved = save(api, user)
    body = {"profile_id": saved["id"], "variables": {"text": "x", "words": "5"}, "model": "gpt-4.1-mini",
            "options": {"temperature": 1.0}, "system": "Be terse.", "name": "mine"}
    task = api("POST", "/api/tasks", user=user, body=body)[1]["data"]
    assert (task["model"], task["name"]) == ("gpt-4.1-mini", "mine")
    snapshot = task["request_snapshot"]
    assert snapshot["options"] == {"temperature": 1.0, "max_tokens": 300}
    assert snapshot["system"] == "Be terse."
    assert "fallbacks" not in snapshot  # the only fallback is the pair the task starts on


@pytest.mark.parametrize(("body", "status", "code", "details"), [
    ({"variables": {"text": "x", "words": "5"}}, 400, "TEMPLATE_VARIABLES",
     {"missing": ["audience"], "unknown": []}),
    ({"variables": {"text": "x", "words": "5", "audience": "a", "tone": "dry"}}, 400, "TEMPLATE_VARIABLES",
     {"missing": [], "unknown": ["tone"]}),
    ({}, 400, "TEMPLATE_VARIABLES", {"missing": ["text", "words", "audience"], "unknown": []}),
    ({"variables": {"text": "x", "words": "5", "audience": "a"}, "prompt": "hi"}, 400, "VALIDATION_ERROR", None),
    ({"variables": {"text": "x", "words": "5", "audience": "a"}, "type": "chat"}, 400, "VALIDATION_ERROR", None),
    ({"variables": {"text": "x" * 300_000, "words": "5", "audience": "a"}}, 400, "VALIDATION_ERROR", None),
])
def test_a_bad_task_from_a_preset_is_refused_and_nothing_is_written(
    api: Any, stack: Any, user: str, llm_queue: str, body: dict[str, Any], status: int, code: str,
    details: dict[str, Any] | None,
) -> None:
    saved = save(api, user)
    before = owned_items(stack, user)
    answer = api("POST", "/api/tasks", user=user, body={"profile_id": saved["id"], **body})
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)
    if details:
        assert {k: answer[1]["error"]["details"][k] for k in details} == details
    assert owned_items(stack, user) == before
    assert "Messages" not in boto3.client("sqs").receive_message(QueueUrl=llm_queue)


def test_a_rendered_prompt_over_the_limit_is_413_and_nothing_is_written(
    api: Any, stack: Any, user: str, llm_queue: str,
) -> None:
    saved = save(api, user, prompt_template="{a}{b}{c}", system=None)
    limit = settings.load(ApiSettings).max_prompt_bytes
    third = "x" * (limit // 3 + 1)
    before = owned_items(stack, user)
    answer = api("POST", "/api/tasks", user=user,
                 body={"profile_id": saved["id"], "variables": {"a": third, "b": third, "c": third}})
    assert (answer[0], answer[1]["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert owned_items(stack, user) == before


def test_variables_without_a_preset_and_a_body_without_a_prompt_are_refused(api: Any, user: str) -> None:
    status, answer, _ = api("POST", "/api/tasks", user=user,
                            body={"type": "text", "provider": "openai", "prompt": "hi", "variables": {"a": "b"}})
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    status, answer, _ = api("POST", "/api/tasks", user=user, body={"type": "text", "provider": "openai"})
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")


def test_a_chat_preset_opens_the_conversation_with_its_rendered_template(api: Any, user: str, llm_queue: str) -> None:
    saved = save(api, user, type="chat", provider="anthropic", model="claude-haiku-4-5", options={}, fallbacks=[])
    status, created, _ = api("POST", "/api/tasks", user=user, body={
        "profile_id": saved["id"], "variables": {"text": "spoons", "words": "3", "audience": "cooks"}})
    assert status == 201, created
    snapshot = created["data"]["request_snapshot"]
    assert (snapshot["type"], snapshot["provider"], snapshot["system"]) == ("chat", "anthropic", "You write for cooks.")
    assert snapshot["messages"] == [
        {"role": "user", "content": "Summarise spoons in 3 words. Literal {braces} stay."}]


def test_a_rendered_task_is_held_to_the_rules_of_any_task(api: Any, stack: Any, user: str, llm_queue: str) -> None:
    # The preset may be saved with options its provider takes; a body switching the provider to one that does not
    # take them (Anthropic has no temperature) is refused once rendered, and nothing is written.
    saved = save(api, user)
    before = owned_items(stack, user)
    status, answer, _ = api("POST", "/api/tasks", user=user, body={
        "profile_id": saved["id"], "provider": "anthropic",
        "variables": {"text": "x", "words": "5", "audience": "a"}})
    assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR")
    assert "temperature" in json.dumps(answer["error"]["details"])
    assert owned_items(stack, user) == before
