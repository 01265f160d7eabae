"""The fake OpenAI's image generation, through the official SDK: OpenAI's wire format, real PNGs of the size
asked for, and OpenAI's refusals."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import openai
import pytest
from localcloud.fakes.openai_server import UNSAFE_MARKER, FakeOpenAI
from openai import OpenAI
from spoonfeeder.image_format import identify

KEY = "sk-test-images-0123456789abcd"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def client(server: FakeOpenAI) -> OpenAI:
    server.reset()
    return OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)


def test_gpt_image_answers_base64_pngs_of_the_size_asked_with_usage(client: OpenAI) -> None:
    answer = client.images.generate(model="gpt-image-1", prompt="two red boats", size="1024x1536", n=3,
                                    background="transparent")
    assert answer.created > 0 and len(answer.data) == 3
    images = [base64.b64decode(item.b64_json or "") for item in answer.data]
    assert {(identify(i).content_type, identify(i).width, identify(i).height) for i in images} == \
        {("image/png", 1024, 1536)}
    assert images[0][25] == 6  # RGBA: a transparent background has an alpha channel
    assert answer.usage is not None and answer.usage.input_tokens == 3
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens
    assert answer.size == "1024x1536" and answer.output_format == "png"


def test_the_same_prompt_makes_the_same_image_and_another_prompt_another(client: OpenAI) -> None:
    def png(prompt: str) -> bytes:
        return base64.b64decode(client.images.generate(model="gpt-image-1", prompt=prompt).data[0].b64_json or "")

    assert png("a quiet harbour") == png("a quiet harbour") != png("a busy harbour")


def test_dall_e_answers_urls_unless_asked_for_base64(client: OpenAI) -> None:
    by_url = client.images.generate(model="dall-e-3", prompt="a fox", size="1792x1024")
    item = by_url.data[0]
    assert item.b64_json is None and item.url and item.revised_prompt == "A simulated rendering of: a fox"
    fetched = httpx.get(item.url)
    assert fetched.headers["content-type"] == "image/png" and identify(fetched.content).width == 1792
    inline = client.images.generate(model="dall-e-2", prompt="a fox", size="256x256", response_format="b64_json")
    assert identify(base64.b64decode(inline.data[0].b64_json or "")).height == 256
    assert inline.usage is None


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model": "dall-e-3", "n": 2}, "You must provide n=1 for this model."),
    ({"model": "gpt-image-1", "n": 11}, "Expected a value <= 10"),
    ({"model": "gpt-image-1", "size": "640x480"}, "Invalid value: '640x480'"),
    ({"model": "gpt-image-1", "response_format": "b64_json"}, "Unknown parameter: 'response_format'."),
])
def test_requests_the_api_refuses_get_its_400(client: OpenAI, kwargs: dict, message: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(prompt="anything", **kwargs)
    assert message in refused.value.message


@pytest.mark.parametrize(("model", "code"), [("dall-e-3", "content_policy_violation"),
                                             ("gpt-image-1", "moderation_blocked")])
def test_the_safety_system_refuses_as_openai_does(client: OpenAI, model: str, code: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model=model, prompt=f"something {UNSAFE_MARKER}")
    assert refused.value.code == code and "safety system" in refused.value.message


def test_scripted_faults_and_bad_keys_apply_to_images(client: OpenAI, server: FakeOpenAI) -> None:
    server.fail_next(status=429, retry_after=2)
    with pytest.raises(openai.RateLimitError) as limited:
        client.images.generate(model="gpt-image-1", prompt="x")
    assert limited.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=server.base_url, api_key="sk-wrong", max_retries=0).images.generate(prompt="x")
    assert server.image_calls == 2 and server.chat_calls == 0
