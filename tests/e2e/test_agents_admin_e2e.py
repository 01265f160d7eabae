"""The GPU fleet and its commands through the running local cloud: the gateway's JWT authorizer passes the
user pool groups on (`cognito:groups`), so a member of the admin group commands an agent and another user may
only read the fleet. The agent here is a heartbeat written to the registry, as an agent writes it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from spoonfeeder.data import items

from tests.e2e.conftest import PASSWORD, Cloud, User, _sign_in, aws, new_user

AGENT = "e2e-registry-agent"


@pytest.fixture
def registered_agent(cloud: Cloud) -> Iterator[str]:
    ddb, table = aws(cloud, "dynamodb"), cloud.info["resources"]["Table"]
    alive_until = int(time.time()) + 120
    ddb.put_item(TableName=table, Item=items.to_item({
        "pk": "AGENTS", "sk": f"AGENT#{AGENT}", "entity": "agent", "agent_id": AGENT, "host": "gpu-box",
        "version": "0.1.0", "labels": [], "concurrency": 1, "tasks_in_flight": 0, "alive_until": alive_until,
        "ttl": alive_until, "simulated": True, "capabilities": {"ollama": True, "comfyui": False, "auto_pull": False},
        "gpus": [], "ollama": {"up": True, "version": "0.12.0"},
        "models": {"installed": [{"name": "llama3.2:latest", "size": 1}], "loaded": []}}))
    yield AGENT
    ddb.delete_item(TableName=table, Key={"pk": {"S": "AGENTS"}, "sk": {"S": f"AGENT#{AGENT}"}})


def operator(cloud: Cloud) -> User:
    """A user the operator added to the admin group (aws cognito-idp admin-add-user-to-group), signed in after."""
    email = "operator@spoonfeeder.local"
    new_user(cloud, email)
    aws(cloud, "cognito-idp").admin_add_user_to_group(UserPoolId=cloud.info["user_pool_id"], Username=email,
                                                      GroupName="admin")
    return _sign_in(cloud, email, PASSWORD)  # the groups are in the tokens issued from now on


def test_admins_command_agents_and_everyone_reads_the_fleet(cloud: Cloud, alice: User,
                                                             registered_agent: str) -> None:
    listed = alice.call("GET", "/agents")
    assert listed.status_code == 200 and registered_agent in [a["agent_id"] for a in listed.json()["data"]]
    refused = alice.call("POST", "/models/ollama/llama3.2/pull", json={"agent_id": registered_agent})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")

    ops = operator(cloud)
    answer = ops.call("POST", "/models/ollama/hf.co%2Forg%2Frepo:Q4/pull", json={"agent_id": registered_agent})
    assert answer.status_code == 202, answer.text
    task: dict[str, Any] = answer.json()["data"]
    assert (task["type"], task["model"], task["metadata"]) == ("model_op", "hf.co/org/repo:Q4",
                                                              {"agent_id": registered_agent})
    inbox = aws(cloud, "dynamodb").get_item(TableName=cloud.info["resources"]["Table"], Key={
        "pk": {"S": f"AGENT#{registered_agent}"}, "sk": {"S": f"CMD#{task['id']}"}})
    assert items.from_item(inbox["Item"])["owner"] == ops.id
    assert alice.call("GET", f"/tasks/{task['id']}").status_code == 404  # the operator's task, not alice's
    cancelled = ops.call("DELETE", f"/tasks/{task['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["data"]["status"] == "cancelled"
    status = alice.call("GET", "/models/ollama/llama3.2/status").json()["data"]
    assert registered_agent in [placed["agent_id"] for placed in status["installed_on"]]
