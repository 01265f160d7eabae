"""Users' own provider keys on the whole local cloud (IAM enforced): each user's task reaches the provider with
that user's key, never another's, and no log line of the cloud (functions at DEBUG) holds a key."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import Cloud, User, _sign_in, new_user, running_cloud, wait_for_status

pytestmark = pytest.mark.e2e
OPERATOR_KEY = f"sk-operator-{uuid.uuid4().hex}"
TEXT = {"type": "text", "provider": "openai", "prompt": "whose key am I running with"}


@pytest.fixture(scope="module")
def fake() -> Iterator[Any]:
    from localcloud.fakes.openai_server import FakeOpenAI

    with FakeOpenAI(api_key=OPERATOR_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def chatty(tmp_path_factory: pytest.TempPathFactory, fake: Any) -> Iterator[Cloud]:
    """A cloud of its own whose functions log everything they log (DEBUG), so the grep below means something."""
    with running_cloud(tmp_path_factory.mktemp("settings-cloud"), [sys.executable, "-m", "localcloud"],
                       OPENAI_API_KEY=OPERATOR_KEY, OPENAI_BASE_URL=fake.base_url, SPOON_LOG_LEVEL="DEBUG") as cloud:
        yield cloud


def _run(user: User) -> dict[str, Any]:
    created = user.call("POST", "/tasks", json=TEXT)
    assert created.status_code == 201, created.text
    return wait_for_status(user, created.json()["data"]["id"], {"succeeded", "failed"})


def test_each_users_task_runs_with_their_own_key_and_no_log_holds_one(chatty: Cloud, fake: Any) -> None:
    alice = _sign_in(chatty, chatty.info["username"], chatty.info["password"])
    bob, carol = new_user(chatty, "bob@spoonfeeder.local"), new_user(chatty, "carol@spoonfeeder.local")
    keys = {alice.id: f"sk-alice-{uuid.uuid4().hex}", bob.id: f"sk-bob-{uuid.uuid4().hex}"}
    fake.accept_keys(*keys.values())
    for user in (alice, bob):
        saved = user.call("PUT", "/settings/openai", json={"api_key": keys[user.id], "endpoint_url": fake.base_url})
        assert saved.status_code == 200, saved.text
        assert keys[user.id] not in saved.text and saved.json()["data"]["api_key_masked"] == "…" + keys[user.id][-4:]

    assert _run(alice)["status"] == "succeeded"
    assert fake.keys_used == [keys[alice.id]]
    tested = bob.call("POST", "/settings/openai/test").json()["data"]
    assert tested["status"] == "connected" and fake.keys_used[-1] == keys[bob.id]
    assert _run(bob)["status"] == "succeeded"
    assert fake.keys_used[1:] == [keys[bob.id], keys[bob.id]]  # never alice's
    assert _run(carol)["status"] == "succeeded"  # no key of her own: the operator's
    assert fake.keys_used[-1] == OPERATOR_KEY

    listed = alice.call("GET", "/settings").text
    assert keys[alice.id] not in listed and OPERATOR_KEY not in listed
    assert bob.call("DELETE", "/settings/openai").status_code == 200
    assert _run(bob)["status"] == "succeeded" and fake.keys_used[-1] == OPERATOR_KEY

    logs = {path.name: path.read_text(errors="replace") for path in chatty.log.parent.rglob("*.log")}
    assert "provider setting changed" in logs["cloud.log"]  # the functions' own lines are there
    for name, text in logs.items():
        for key in (*keys.values(), OPERATOR_KEY):
            assert key not in text, f"{name} holds a key"
