"""Per-user provider settings through the API function (moto's KMS and DynamoDB over HTTP, the fake OpenAI through
the official SDK): keys encrypted under {owner, provider} and never shown, tests that really call, and tasks that
run with their owner's key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import OPENAI_KEY
from tests.integration.test_llm_worker import TEXT, run_until_settled


def new_user() -> str:
    return f"user-{uuid.uuid4()}"


def new_key() -> str:
    return f"sk-user-{uuid.uuid4().hex}"


@pytest.fixture
def table(stack: Any) -> str:
    return str(stack.resources["Table"])


def stored_item(table: str, owner: str, provider: str = "openai") -> dict[str, Any] | None:
    got = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": f"OWNER#{owner}"},
                                                                  "sk": {"S": f"SETTING#{provider}"}})
    return got.get("Item")


@pytest.fixture
def owner_and_key(api: Any, openai_fake: Any) -> Iterator[tuple[str, str]]:
    """A user whose own OpenAI key (which the fake accepts) points at the fake."""
    owner, key = new_user(), new_key()
    openai_fake.accept_keys(key)
    status, body, _ = api("PUT", "/api/settings/openai", user=owner,
                          body={"api_key": key, "endpoint_url": openai_fake.base_url})
    assert status == 200, body
    yield owner, key


def test_the_key_is_masked_in_every_answer_and_stored_only_as_ciphertext(
    api: Any, openai_fake: Any, table: str, owner_and_key: tuple[str, str],
) -> None:
    owner, key = owner_and_key
    answers = [api("GET", "/api/settings", user=owner), api("GET", "/api/settings/openai", user=owner),
               api("PUT", "/api/settings/openai", user=owner, body={"default_model": "gpt-4o"}),
               api("POST", "/api/settings/openai/test", user=owner)]
    for status, body, _ in answers:
        assert status == 200, body
        assert key not in json.dumps(body) and key[-8:] not in json.dumps(body)
    listed = {entry["provider"]: entry for entry in answers[0][1]["data"]}
    assert list(listed) == ["openai", "anthropic", "gemini"]  # every cloud provider, set or not
    assert listed["openai"]["api_key_masked"] == "…" + key[-4:] and listed["openai"]["source"] == "user"
    # Anthropic has no setting of this user: the operator default (in the test secret) would be used, unshown.
    assert listed["anthropic"]["api_key_masked"] is None and listed["anthropic"]["source"] == "operator"
    assert answers[2][1]["data"]["default_model"] == "gpt-4o"
    assert answers[2][1]["data"]["api_key_masked"] == "…" + key[-4:]  # a PUT without api_key keeps the key
    assert answers[3][1]["data"]["status"] == "connected"

    item = stored_item(table, owner)
    assert item is not None and item["owner"] == {"S": owner}
    ciphertext = item["api_key_ciphertext"]["B"]
    assert key.encode() not in ciphertext and key not in json.dumps(item, default=repr)
    clear = boto3.client("kms").decrypt(CiphertextBlob=ciphertext,
                                        EncryptionContext={"owner": owner, "provider": "openai"})["Plaintext"]
    assert clear.decode() == key  # the stored value is the key encrypted under its context, nothing else


def test_another_users_settings_show_nothing_of_mine(api: Any, owner_and_key: tuple[str, str]) -> None:
    _, key = owner_and_key
    status, body, _ = api("GET", "/api/settings/openai", user=new_user())
    assert status == 200
    assert body["data"]["api_key_masked"] is None and body["data"]["source"] == "operator"
    assert body["data"]["endpoint_url"] is None and key[-4:] not in json.dumps(body)


def test_a_ciphertext_copied_to_another_user_fails_to_decrypt_and_is_never_used(
    api: Any, functions: Any, queues: dict, openai_fake: Any, table: str, owner_and_key: tuple[str, str],
) -> None:
    owner, key = owner_and_key
    thief = new_user()
    api("PUT", "/api/settings/openai", user=thief, body={"endpoint_url": openai_fake.base_url})
    stolen = stored_item(table, owner)
    assert stolen is not None
    boto3.client("dynamodb").update_item(  # someone with write access to the table copies the ciphertext
        TableName=table, Key={"pk": {"S": f"OWNER#{thief}"}, "sk": {"S": "SETTING#openai"}},
        UpdateExpression="SET api_key_ciphertext = :c, api_key_last4 = :l",
        ExpressionAttributeValues={":c": stolen["api_key_ciphertext"], ":l": stolen["api_key_last4"]})
    with pytest.raises(ClientError) as refused:
        boto3.client("kms").decrypt(CiphertextBlob=stolen["api_key_ciphertext"]["B"],
                                    EncryptionContext={"owner": thief, "provider": "openai"})
    assert refused.value.response["Error"]["Code"] == "InvalidCiphertextException"

    status, body, _ = api("POST", "/api/settings/openai/test", user=thief)
    assert status == 200 and body["data"]["status"] == "error"
    assert body["data"]["error_code"] == "API_KEY_UNREADABLE"
    task_id = api("POST", "/api/tasks", user=thief, body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, task_id, lambda *a, **kw: api(*a, user=thief, **kw))
    assert task["status"] == "failed" and task["error"]["code"] == "API_KEY_UNREADABLE"
    assert key not in openai_fake.keys_used and OPENAI_KEY not in openai_fake.keys_used  # nor a fallback

    # The whole item, its `owner` attribute included, copied into the thief's partition: still refused.
    boto3.client("dynamodb").put_item(TableName=table, Item={
        **stolen, "pk": {"S": f"OWNER#{thief}"}, "sk": {"S": "SETTING#openai"}})
    status, body, _ = api("POST", "/api/settings/openai/test", user=thief)
    assert body["data"]["error_code"] == "API_KEY_UNREADABLE" and key not in openai_fake.keys_used


def test_test_marks_connected_with_the_right_key_and_error_with_a_wrong_one(
    api: Any, openai_fake: Any, owner_and_key: tuple[str, str],
) -> None:
    owner, key = owner_and_key
    untested = api("GET", "/api/settings/openai", user=owner)[1]["data"]
    assert untested["status"] == "untested" and untested["last_tested"] is None

    status, body, _ = api("POST", "/api/settings/openai/test", user=owner)
    assert status == 200 and body["data"]["status"] == "connected" and body["data"]["last_tested"]
    assert openai_fake.keys_used == [key]  # a real call, with the user's key

    wrong = new_key()
    changed = api("PUT", "/api/settings/openai", user=owner, body={"api_key": wrong})[1]["data"]
    assert changed["status"] == "untested" and changed["last_tested"] is None  # a new key is untested
    status, body, _ = api("POST", "/api/settings/openai/test", user=owner)
    assert status == 200, body
    assert body["data"]["status"] == "error" and body["data"]["error_code"] == "INVALID_API_KEY"
    assert body["data"]["error_message"] and wrong[-8:] not in json.dumps(body)
    assert openai_fake.keys_used[-1] == wrong
    assert api("GET", "/api/settings/openai", user=owner)[1]["data"]["status"] == "error"  # recorded


def test_without_a_key_of_their_own_a_user_tests_the_operator_default(api: Any, openai_fake: Any) -> None:
    owner = new_user()
    status, body, _ = api("POST", "/api/settings/openai/test", user=owner)
    assert status == 200 and body["data"]["status"] == "connected" and body["data"]["source"] == "operator"
    assert openai_fake.keys_used == [OPENAI_KEY]
    assert body["data"]["api_key_masked"] is None  # the operator key is never shown, not even masked


def test_delete_removes_the_setting(api: Any, table: str, owner_and_key: tuple[str, str]) -> None:
    owner, _ = owner_and_key
    assert api("DELETE", "/api/settings/openai", user=new_user())[0] == 404  # nobody else's to delete
    assert stored_item(table, owner) is not None
    status, body, _ = api("DELETE", "/api/settings/openai", user=owner)
    assert status == 200 and body["data"] == {"provider": "openai", "deleted": True}
    assert stored_item(table, owner) is None
    after = api("GET", "/api/settings/openai", user=owner)[1]["data"]
    assert after["api_key_masked"] is None and after["source"] == "operator" and after["created_at"] is None
    status, body, _ = api("DELETE", "/api/settings/openai", user=owner)
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(("path", "body", "code"), [
    ("/api/settings/openai", {"api_key": "sk has spaces in it"}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"api_key": "short"}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"api_key": "sk-" + "x" * 600}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"api_key": "sk-good-key-1234\u0000"}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"api_key": "sk-good-key-1234", "colour": "red"}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"default_model": ""}, "VALIDATION_ERROR"),
    ("/api/settings/openai", {"api_key": "sk-good-key-1234", "endpoint_url": "http://169.254.169.254/latest/"},
     "ENDPOINT_NOT_ALLOWED"),
    ("/api/settings/openai", {"api_key": "sk-good-key-1234", "endpoint_url": "https://169.254.169.254/"},
     "ENDPOINT_NOT_ALLOWED"),
    ("/api/settings/openai", {"endpoint_url": "https://10.1.2.3/v1"}, "ENDPOINT_NOT_ALLOWED"),
    ("/api/settings/openai", {"endpoint_url": "http://api.example.com/v1"}, "ENDPOINT_NOT_ALLOWED"),
    ("/api/settings/openai", {"endpoint_url": "https://localhost/v1"}, "ENDPOINT_NOT_ALLOWED"),
    ("/api/settings/ollama", {"api_key": "sk-good-key-1234"}, "VALIDATION_ERROR"),
    ("/api/settings/mistral", {"api_key": "sk-good-key-1234"}, "VALIDATION_ERROR"),
])
def test_bad_input_is_refused_and_nothing_is_written(api: Any, table: str, path: str, body: dict, code: str) -> None:
    owner = new_user()
    status, answer, _ = api("PUT", path, user=owner, body=body)
    assert status == 400 and answer["success"] is False and answer["error"]["code"] == code
    assert "sk-good-key-1234" not in json.dumps(answer)
    for provider in ("openai", "ollama", "mistral"):
        assert stored_item(table, owner, provider) is None


def test_an_unknown_provider_is_refused_on_every_route(api: Any) -> None:
    for method, path in (("GET", "/api/settings/nope"), ("DELETE", "/api/settings/nope"),
                         ("POST", "/api/settings/comfyui/test")):
        status, body, _ = api(method, path)
        assert status == 400 and body["error"]["code"] == "VALIDATION_ERROR", (method, path)


def test_null_removes_a_field_and_a_removed_key_falls_back_to_the_operator(
    api: Any, owner_and_key: tuple[str, str],
) -> None:
    owner, _ = owner_and_key
    status, body, _ = api("PUT", "/api/settings/openai", user=owner, body={"api_key": None, "endpoint_url": None})
    assert status == 200, body
    data = body["data"]
    assert data["api_key_masked"] is None and data["endpoint_url"] is None and data["source"] == "operator"


def test_tasks_without_a_model_run_the_users_default_model(api: Any, owner_and_key: tuple[str, str]) -> None:
    owner, _ = owner_and_key
    api("PUT", "/api/settings/openai", user=owner, body={"default_model": "gpt-4.1-mini"})
    defaulted = api("POST", "/api/tasks", user=owner, body=TEXT)[1]["data"]
    assert defaulted["model"] == "gpt-4.1-mini"
    assert defaulted["request_snapshot"]["model"] == "gpt-4.1-mini"
    named = api("POST", "/api/tasks", user=owner, body={**TEXT, "model": "gpt-4o"})[1]["data"]
    assert named["model"] == "gpt-4o"  # a model the request names wins
    assert api("POST", "/api/tasks", user=new_user(), body=TEXT)[1]["data"]["model"] == "gpt-4o-mini"


def test_a_users_task_runs_with_that_users_key(
    api: Any, functions: Any, queues: dict, openai_fake: Any, owner_and_key: tuple[str, str],
) -> None:
    owner, key = owner_and_key
    other, other_key = new_user(), new_key()
    openai_fake.accept_keys(other_key)
    api("PUT", "/api/settings/openai", user=other, body={"api_key": other_key, "endpoint_url": openai_fake.base_url})
    mine = api("POST", "/api/tasks", user=owner, body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, mine, lambda *a, **kw: api(*a, user=owner, **kw))
    assert task["status"] == "succeeded", task
    assert openai_fake.keys_used == [key]
    nobody = new_user()
    plain = api("POST", "/api/tasks", user=nobody, body=TEXT)[1]["data"]["id"]
    run_until_settled(functions, queues, plain, lambda *a, **kw: api(*a, user=nobody, **kw))
    assert openai_fake.keys_used == [key, OPENAI_KEY]  # no setting: the operator default


def test_an_endpoint_name_resolving_to_a_private_address_is_refused_where_it_is_used(
    api: Any, functions: Any, queues: dict, openai_fake: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name passes when set (names are not resolved then); the test and the worker resolve it and refuse."""
    from spoonfeeder.providers import endpoints

    owner, key = new_user(), new_key()
    status, body, _ = api("PUT", "/api/settings/openai", user=owner,
                          body={"api_key": key, "endpoint_url": "https://rebound.example.com/v1"})
    assert status == 200, body
    monkeypatch.setattr(endpoints, "resolve_addresses", lambda host: ["10.0.0.7"])
    tested = api("POST", "/api/settings/openai/test", user=owner)[1]["data"]
    assert tested["status"] == "error" and tested["error_code"] == "ENDPOINT_NOT_ALLOWED"
    task_id = api("POST", "/api/tasks", user=owner, body=TEXT)[1]["data"]["id"]
    task = run_until_settled(functions, queues, task_id, lambda *a, **kw: api(*a, user=owner, **kw))
    assert task["status"] == "failed" and task["error"]["code"] == "ENDPOINT_NOT_ALLOWED"
    assert openai_fake.keys_used == []  # nothing was called with the key


def test_only_a_create_without_a_model_reads_the_users_default(api: Any, owner_and_key: tuple[str, str]) -> None:
    """One projected GetItem of the setting, before the transaction; none when the request names its model."""
    from spoonfeeder.data.aws import client

    owner, _ = owner_and_key
    calls: list[tuple[str, dict[str, Any]]] = []

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        calls.append((event_name.removeprefix("before-parameter-build."), params))

    ddb = client("dynamodb")
    ddb.meta.events.register("before-parameter-build", count)
    try:
        api("POST", "/api/tasks", user=owner, body=TEXT)
        without = list(calls)
        calls.clear()
        api("POST", "/api/tasks", user=owner, body={**TEXT, "model": "gpt-4o"})
    finally:
        ddb.meta.events.unregister("before-parameter-build", count)
    reads = [params for name, params in without if name == "dynamodb.GetItem"
             and params["Key"]["sk"] == {"S": "SETTING#openai"}]
    assert len(reads) == 1 and reads[0]["ProjectionExpression"] == "default_model"
    assert [name for name, _ in without].index("dynamodb.GetItem") < \
        [name for name, _ in without].index("dynamodb.TransactWriteItems")
    assert not any(params.get("Key", {}).get("sk") == {"S": "SETTING#openai"} for _, params in calls)


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_anthropic_and_gemini_keys_are_tested_with_a_real_call(api: Any, provider_fakes: dict[str, Any],
                                                                provider: str) -> None:
    fake = provider_fakes[provider]
    owner = new_user()
    status, body, _ = api("POST", f"/api/settings/{provider}/test", user=owner)  # the operator default
    assert status == 200 and (body["data"]["status"], body["data"]["source"]) == ("connected", "operator")

    wrong = f"wrong-{uuid.uuid4().hex}"
    status, body, _ = api("PUT", f"/api/settings/{provider}", user=owner,
                          body={"api_key": wrong, "endpoint_url": fake.base_url})
    assert status == 200, body
    status, body, _ = api("POST", f"/api/settings/{provider}/test", user=owner)
    assert status == 200, body
    assert (body["data"]["status"], body["data"]["error_code"]) == ("error", "INVALID_API_KEY")
    assert wrong[-8:] not in json.dumps(body)
