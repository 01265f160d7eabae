"""Batch input lines (OpenAI Batch, Bedrock, native) to POST /api/tasks bodies, held to the API's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
from spoonfeeder.batches.formats import Format, LineError, check_body, detect, parse_line, read_json

LIMIT = 100_000


def parsed(record: dict[str, Any], fmt: Format, **defaults: Any) -> Any:
    return parse_line(7, record, fmt, defaults)


def test_the_format_is_detected_from_a_line() -> None:
    assert detect({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}) is Format.OPENAI
    assert detect({"recordId": "r1", "modelInput": {}}) is Format.BEDROCK
    assert detect({"custom_id": "a", "type": "text", "provider": "openai", "prompt": "x"}) is Format.NATIVE
    with pytest.raises(ValueError):
        detect({"prompt": "x"})


def test_openai_chat_completions_become_a_chat_task() -> None:
    line = parsed({"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."},
                                             {"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_completion_tokens": 50, "temperature": 0.2}}, Format.OPENAI)
    assert line.custom_id == "req-1" and line.kind == "chat" and line.error is None
    assert line.body == {"provider": "openai", "model": "gpt-4o-mini", "type": "chat", "system": "Be brief.",
                         "messages": [{"role": "user", "content": "Hi"}],
                         "options": {"max_tokens": 50, "temperature": 0.2}}
    assert check_body(line.body, max_prompt_bytes=LIMIT).messages[0].content == "Hi"


def test_openai_responses_and_images_and_a_catalog_provider() -> None:
    responses = parsed({"custom_id": "r", "url": "/v1/responses", "method": "POST", "body": {
        "model": "claude-haiku-4-5", "input": "Name a colour", "instructions": "One word.",
        "max_output_tokens": 20, "temperature": 1}}, Format.OPENAI)
    assert responses.kind == "responses" and responses.body is not None
    assert responses.body["provider"] == "anthropic" and responses.body["system"] == "One word."
    assert responses.body["options"] == {"max_tokens": 20}  # Anthropic takes no temperature: left out
    check_body(responses.body, max_prompt_bytes=LIMIT)
    images = parsed({"custom_id": "i", "url": "/v1/images/generations", "method": "POST", "body": {
        "model": "gpt-image-1", "prompt": "a fox", "size": "1024x1024", "n": 2}}, Format.OPENAI)
    assert images.kind == "images" and images.body == {"provider": "openai", "model": "gpt-image-1", "type": "image",
                                                       "prompt": "a fox", "image": {"size": "1024x1024", "n": 2}}
    check_body(images.body, max_prompt_bytes=LIMIT)


@pytest.mark.parametrize(("record", "code"), [
    ({"custom_id": "x", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}},
     "UNKNOWN_URL"),
    ({"custom_id": "x", "method": "GET", "url": "/v1/chat/completions", "body": {}}, "INVALID_LINE"),
    ({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": []}}, "INVALID_LINE"),
    ({"method": "POST", "url": "/v1/chat/completions", "body": {}}, "INVALID_LINE"),
])
def test_bad_openai_lines_are_error_lines(record: dict[str, Any], code: str) -> None:
    line = parsed(record, Format.OPENAI)
    assert line.body is None and line.error is not None and line.error[0] == code


def test_the_api_validation_refuses_what_the_api_refuses() -> None:
    line = parsed({"custom_id": "x", "url": "/v1/chat/completions", "method": "POST", "body": {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}}, Format.OPENAI)
    with pytest.raises(LineError) as refused:
        check_body(line.body or {}, max_prompt_bytes=LIMIT)
    assert refused.value.code == "VALIDATION_ERROR" and "temperature" in refused.value.message
    with pytest.raises(LineError) as big:
        check_body({"type": "text", "provider": "openai", "prompt": "x" * 200}, max_prompt_bytes=100)
    assert big.value.code == "PAYLOAD_TOO_LARGE"
    with pytest.raises(LineError) as gpu:
        check_body({"type": "text", "provider": "ollama", "prompt": "x"}, max_prompt_bytes=LIMIT)
    assert gpu.value.code == "NOT_AVAILABLE"


def test_bedrock_shapes_map_to_anthropic_by_the_jobs_model() -> None:
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    messages = parsed({"recordId": "r1", "modelInput": {
        "anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "system": "Terse.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}}, Format.BEDROCK, model=model)
    assert messages.kind == "anthropic" and messages.body == {
        "provider": "anthropic", "model": "claude-sonnet-4-5", "type": "chat", "system": "Terse.",
        "messages": [{"role": "user", "content": "Hello"}], "options": {"max_tokens": 64}}
    converse = parsed({"recordId": "r2", "modelInput": {
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}], "system": [{"text": "Be kind."}],
        "inferenceConfig": {"maxTokens": 10}}}, Format.BEDROCK, model="anthropic.claude-haiku-4-5")
    assert converse.kind == "converse" and converse.body is not None and converse.body["system"] == "Be kind."
    titan = parsed({"recordId": "r3", "modelInput": {"inputText": "Hey"}}, Format.BEDROCK,
                   model="amazon.titan-text-express-v1")
    assert titan.error is not None and titan.error[0] == "UNSUPPORTED_MODEL" and titan.model_input == {
        "inputText": "Hey"}
    on_openai = parsed({"recordId": "r3", "modelInput": {"inputText": "Hey", "textGenerationConfig": {
        "maxTokenCount": 5}}}, Format.BEDROCK, provider="openai", model="gpt-4o-mini")
    assert on_openai.kind == "titan" and on_openai.body is not None and on_openai.body["options"] == {"max_tokens": 5}


def test_native_lines_take_the_batch_defaults() -> None:
    line = parsed({"custom_id": "n1", "type": "text", "prompt": "hi"}, Format.NATIVE, provider="gemini")
    assert line.body == {"type": "text", "prompt": "hi", "provider": "gemini"}
    check_body(line.body, max_prompt_bytes=LIMIT)


def test_unreadable_lines() -> None:
    for text, code in (("{not json", "INVALID_JSON"), ("[1, 2]", "INVALID_LINE"),
                       (json.dumps({"p": "x" * (1024 * 1024)}), "LINE_TOO_LARGE")):
        with pytest.raises(LineError) as refused:
            read_json(text)
        assert refused.value.code == code
