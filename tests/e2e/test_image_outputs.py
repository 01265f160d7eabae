"""An image task as a user runs it on the local cloud (IAM enforced): create it, wait for it, download its
output through the API's redirect to a presigned S3 URL, as `curl -L` would; nobody else can."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from localcloud.fakes.openai_server import colour_of, solid_png

from tests.e2e.conftest import User, wait_for_status

pytestmark = pytest.mark.e2e
IMAGE = {"type": "image", "provider": "openai", "prompt": "a paper crane on a desk",
         "image": {"size": "1024x1536", "quality": "low"}}


def test_the_owner_downloads_the_image_through_the_presigned_redirect(alice: User, bob: User, openai: Any) -> None:
    created = alice.call("POST", "/tasks", json=IMAGE)
    assert created.status_code == 201, created.text
    task = wait_for_status(alice, created.json()["data"]["id"], {"succeeded", "failed"})
    assert task["status"] == "succeeded", task["error"]
    [output] = task["result"]["outputs"]
    assert (output["content_type"], output["width"], output["height"]) == ("image/png", 1024, 1536)

    path = f"/tasks/{task['id']}/outputs/0"
    redirect = alice.call("GET", path)
    assert redirect.status_code == 302 and "X-Amz-Signature=" in redirect.headers["location"]
    # The download itself carries no token: the URL is the permission, signed with the API function's role.
    downloaded = httpx.get(redirect.headers["location"], timeout=30)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == solid_png(1024, 1536, colour_of(IMAGE["prompt"]))
    assert len(downloaded.content) == output["bytes"]
    assert downloaded.headers["content-type"] == "image/png"
    followed = httpx.get(f"{alice.cloud.api}{path}", headers={"authorization": f"Bearer {alice.token}"},
                         follow_redirects=True, timeout=30)  # what a browser or `curl -L` does
    assert followed.status_code == 200 and followed.content == downloaded.content

    refused = bob.call("GET", path)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert "location" not in refused.headers

    # Purging the task removes its images too: the URL handed out before no longer serves them.
    assert alice.call("DELETE", f"/tasks/{task['id']}", params={"purge": "true"}).status_code == 200
    gone = httpx.get(redirect.headers["location"], timeout=30)
    assert gone.status_code == 404, gone.text
    assert alice.call("GET", path).status_code == 404
