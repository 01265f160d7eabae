"""Batch jobs through the local cloud as an operator starts one: a JSONL file put straight into S3 at
`batches/<owner>/<batch id>/input.jsonl` is fanned out into tasks, they run on the (simulated) providers, and
`output.jsonl`, `errors.jsonl` and `manifest.json` are written next to it, every line matched by its id."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.conftest import eventually
from tests.e2e.conftest import Cloud, User, aws, receive

BAD = {4: "{oops", 9: json.dumps({"custom_id": "c9", "method": "POST", "url": "/v1/embeddings", "body": {}})}


def openai_line(n: int) -> str:
    return json.dumps({"custom_id": f"c{n}", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"number {n}"}]}})


def batch_item(cloud: Cloud, batch_id: str) -> dict[str, Any] | None:
    from spoonfeeder.data.items import from_item

    got = aws(cloud, "dynamodb").get_item(TableName=cloud.info["resources"]["Table"],
                                          Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}})
    return from_item(got["Item"]) if "Item" in got else None


def read(cloud: Cloud, key: str) -> bytes:
    return bytes(aws(cloud, "s3").get_object(Bucket=cloud.info["resources"]["Bucket"], Key=key)["Body"].read())


def run(cloud: Cloud, owner: str, lines: list[str], timeout: float = 120) -> tuple[str, dict[str, Any]]:
    batch_id = uuid.uuid4().hex
    body = ("\n".join(lines) + "\n").encode()
    s3 = aws(cloud, "s3")
    key = f"batches/{owner}/{batch_id}/input.jsonl"
    s3.put_object(Bucket=cloud.info["resources"]["Bucket"], Key=key, Body=body)
    done = eventually(lambda: (b if (b := batch_item(cloud, batch_id)) and b["status"] in ("completed", "failed")
                               else None), timeout=timeout, every=0.5)
    return batch_id, done


def test_an_openai_file_put_into_s3_runs_and_writes_matched_outputs(cloud: Cloud, alice: User) -> None:
    lines = [BAD.get(n, openai_line(n)) for n in range(40)]
    batch_id, done = run(cloud, alice.id, lines)
    assert done["status"] == "completed", done
    assert (done["total"], done["rejected"], done["created"], done["succeeded"]) == (40, 2, 38, 38)
    output = [json.loads(line) for line in read(cloud, done["outputs"]["output"]).decode().splitlines()]
    assert len(output) == 40
    by_id = {line["custom_id"]: line for line in output if line["custom_id"]}
    assert by_id["c7"]["response"]["status_code"] == 200
    assert by_id["c7"]["response"]["body"]["choices"][0]["message"]["content"].endswith("number 7")
    assert by_id["c9"]["error"]["code"] == "UNKNOWN_URL" and by_id["c9"]["response"] is None
    errors = read(cloud, done["outputs"]["errors"]).decode().splitlines()
    assert len(errors) == 2
    manifest = json.loads(read(cloud, done["outputs"]["manifest"]))
    assert manifest["totalRecordCount"] == 40 and manifest["successRecordCount"] == 38
    assert manifest["errorRecordCount"] == 2 and manifest["inputTokenCount"] > 0
    # A task of the batch is the owner's, with its line.
    task = next(line for line in output if line["custom_id"] == "c0")["response"]["request_id"]
    shown = alice.call("GET", f"/tasks/{task}").json()["data"]
    assert shown["batch_id"] == batch_id and shown["custom_id"] == "c0"


def test_the_same_s3_event_twice_is_one_batch(cloud: Cloud, alice: User) -> None:
    batch_id, _ = run(cloud, alice.id, [openai_line(n) for n in range(3)])
    bucket, key = cloud.info["resources"]["Bucket"], f"batches/{alice.id}/{batch_id}/input.jsonl"
    event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": bucket},
                                                                   "object": {"key": key, "size": 10}}}]}
    sqs, queue = aws(cloud, "sqs"), cloud.info["resources"]["BatchFilesQueue"]
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))

    def handled() -> bool:
        counts = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        return counts["ApproximateNumberOfMessages"] == counts["ApproximateNumberOfMessagesNotVisible"] == "0"

    eventually(handled, timeout=30, every=0.3)
    again = batch_item(cloud, batch_id)
    assert again is not None and again["created"] == 3 and again["status"] == "completed"


def test_a_native_file_answers_in_its_own_format(cloud: Cloud, alice: User) -> None:
    native = [json.dumps({"custom_id": f"n{n}", "type": "text", "provider": "openai", "prompt": f"native {n}"})
              for n in range(3)]
    _, done = run(cloud, alice.id, native)
    lines = [json.loads(line) for line in read(cloud, done["outputs"]["output"]).decode().splitlines()]
    assert [line["status"] for line in lines] == ["succeeded"] * 3 and "errors" not in done["outputs"]
    assert lines[1]["custom_id"] == "n1" and lines[1]["result"]["text"].endswith("native 1")


def test_the_owner_reads_and_downloads_a_batch_and_nobody_else(cloud: Cloud, alice: User, bob: User) -> None:
    batch_id, _ = run(cloud, alice.id, [openai_line(n) for n in range(5)])
    shown = alice.call("GET", f"/batches/{batch_id}").json()["data"]
    assert shown["status"] == "completed" and shown["counters"]["succeeded"] == 5 and shown["format"] == "openai"
    assert batch_id in [b["id"] for b in alice.call("GET", "/batches").json()["data"]]
    for which, size in (("output", 5), ("errors", 0)):
        redirect = alice.call("GET", f"/batches/{batch_id}/{which}", follow_redirects=False)
        assert redirect.status_code == 302
        assert len(httpx.get(redirect.headers["location"]).text.splitlines()) == size
    manifest = httpx.get(alice.call("GET", f"/batches/{batch_id}/manifest", follow_redirects=False)
                         .headers["location"]).json()
    assert manifest["successRecordCount"] == 5
    for path in (f"/batches/{batch_id}", f"/batches/{batch_id}/output", f"/batches/{batch_id}/manifest"):
        assert bob.call("GET", path).status_code == 404
    assert bob.call("POST", f"/batches/{batch_id}/cancel").status_code == 404
    assert batch_id not in [b["id"] for b in bob.call("GET", "/batches").json()["data"]]
    with bob.socket() as ws:
        ws.send(json.dumps({"action": "subscribe", "topic": f"batch:{batch_id}"}))
        refused = receive(ws, lambda m: m["type"] in ("subscribed", "error"))[-1]
    assert refused["type"] == "error" and refused["error"]["code"] == "TOPIC_FORBIDDEN"
    with alice.socket() as ws:
        ws.send(json.dumps({"action": "resume", "topic": f"batch:{batch_id}", "after_seq": 0}))
        got = receive(ws, lambda m: m["type"] == "resumed")
    assert [m["event"]["type"] for m in got if m["type"] == "event"][-1] == "batch:completed"


def test_cancel_stops_the_fan_out_and_the_output_reflects_what_ran(cloud: Cloud, alice: User) -> None:
    batch_id = uuid.uuid4().hex
    body = ("\n".join(openai_line(n) for n in range(400)) + "\n").encode()
    aws(cloud, "s3").put_object(Bucket=cloud.info["resources"]["Bucket"],
                                Key=f"batches/{alice.id}/{batch_id}/input.jsonl", Body=body)
    eventually(lambda: (b := batch_item(cloud, batch_id)) and b["created"] > 0, timeout=60, every=0.2)
    answer = alice.call("POST", f"/batches/{batch_id}/cancel")
    assert answer.status_code == 202, answer.text
    done = eventually(lambda: (b if (b := batch_item(cloud, batch_id)) and b["status"] == "cancelled" else None),
                      timeout=120, every=0.5)
    assert done["total"] < 400 and done["cancelled"] > 0  # the fan-out stopped; what had not run was cancelled
    assert done["succeeded"] + done["failed"] + done["cancelled"] == done["created"]
    output = read(cloud, done["outputs"]["output"]).decode().splitlines()
    assert len(output) == done["total"]
    cancelled = [json.loads(line) for line in output if '"CANCELLED"' in line]
    assert len(cancelled) == done["cancelled"]
    assert alice.call("POST", f"/batches/{batch_id}/cancel").status_code == 409
