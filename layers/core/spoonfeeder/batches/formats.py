"""Input lines of a batch file, in the formats users already have, turned into POST /api/tasks bodies.

- **OpenAI Batch**: `{"custom_id", "method": "POST", "url", "body"}`, url `/v1/chat/completions`,
  `/v1/responses` or `/v1/images/generations`. The provider is the catalog's for the body's model (an unknown
  model: the batch's default provider, else openai).
- **Bedrock batch inference**: `{"recordId", "modelInput"}`; a Bedrock job names its model on the job, so the
  model is the batch's `defaults.model` (a Bedrock id such as `anthropic.claude-sonnet-4-6` or
  `us.anthropic.claude-sonnet-4-5-20250929-v1:0` maps to our Anthropic model by its name). `modelInput` is
  Anthropic Messages (`messages`, `system`, `max_tokens` …), Converse (`messages` of content blocks,
  `inferenceConfig`) or Titan text (`inputText`, `textGenerationConfig`).
- **Native**: a POST /api/tasks body plus `custom_id`.

Pure: text in, a body or the line's error out. The body is then held to every rule of POST /api/tasks by the
same validation (`check_body`), so a batch line can do nothing a request could not.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from spoonfeeder import catalog
from spoonfeeder.models.kinds import UNSUPPORTED

if TYPE_CHECKING:
    from spoonfeeder.models.tasks import TaskCreate

MAX_LINE_BYTES = 1024 * 1024
MAX_CUSTOM_ID = 200


class Format(StrEnum):
    OPENAI = "openai"
    BEDROCK = "bedrock"
    NATIVE = "native"


class LineError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class ParsedLine:
    line: int
    custom_id: str | None
    body: dict[str, Any] | None = None  # a POST /api/tasks body
    error: tuple[str, str] | None = None  # (code, message)
    kind: str | None = None  # what the line asked for, to shape its output: chat, responses, images, anthropic …
    model_input: Any = None  # Bedrock: echoed in the output line


def detect(record: dict[str, Any]) -> Format:
    """The format of a file, from its first valid line."""
    if "recordId" in record and "modelInput" in record:
        return Format.BEDROCK
    if "url" in record and "body" in record:
        return Format.OPENAI
    if "custom_id" in record:
        return Format.NATIVE
    raise ValueError("not a batch line of any known format (OpenAI Batch, Bedrock or native)")


def read_json(text: str | bytes) -> dict[str, Any]:
    if len(text) > MAX_LINE_BYTES:
        raise LineError("LINE_TOO_LARGE", f"a line may hold at most {MAX_LINE_BYTES} bytes")
    try:
        record = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LineError("INVALID_JSON", f"the line is not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise LineError("INVALID_LINE", "a line must be a JSON object")
    return record


def parse_line(line: int, record: dict[str, Any], fmt: Format, defaults: dict[str, Any]) -> ParsedLine:
    """A line's task body (not yet validated) or its error; the custom id is read first, so an error line still
    carries it."""
    key = "recordId" if fmt is Format.BEDROCK else "custom_id"
    custom_id = record.get(key)
    if not isinstance(custom_id, str) or not 0 < len(custom_id) <= MAX_CUSTOM_ID:
        return ParsedLine(line, None, error=("INVALID_LINE", f"`{key}` must be a string of 1 to {MAX_CUSTOM_ID} "
                                                             "characters"))
    try:
        if fmt is Format.OPENAI:
            kind, body = _openai(record, defaults)
            return ParsedLine(line, custom_id, body=body, kind=kind)
        if fmt is Format.BEDROCK:
            kind, body = _bedrock(record, defaults)
            return ParsedLine(line, custom_id, body=body, kind=kind, model_input=record.get("modelInput"))
        body = {k: v for k, v in record.items() if k != "custom_id"}
        for name in ("provider", "model"):
            if name not in body and defaults.get(name):
                body[name] = defaults[name]
        return ParsedLine(line, custom_id, body=body, kind="native")
    except LineError as err:
        return ParsedLine(line, custom_id, error=(err.code, err.message),
                          model_input=record.get("modelInput") if fmt is Format.BEDROCK else None)


# ------------------------------------------------------------------ OpenAI Batch
_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "max_tokens": "max_tokens",
            "max_completion_tokens": "max_tokens", "max_output_tokens": "max_tokens", "stop": "stop", "seed": "seed",
            "response_format": "response_format"}
_IMAGE_OPTIONS = ("size", "quality", "n", "background")


def provider_of(model: str | None, defaults: dict[str, Any]) -> str:
    for provider in ("openai", "anthropic", "gemini"):
        if model and catalog.lookup(provider, model):
            return provider
    return str(defaults.get("provider") or "openai")


def _openai(record: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if record.get("method", "POST") != "POST":
        raise LineError("INVALID_LINE", "`method` must be POST")
    body = record.get("body")
    if not isinstance(body, dict):
        raise LineError("INVALID_LINE", "`body` must be an object")
    url = record.get("url")
    model = body.get("model") or defaults.get("model")
    task: dict[str, Any] = {"provider": provider_of(model, defaults)}
    if model:
        task["model"] = model
    if url == "/v1/images/generations":
        task.update(type="image", prompt=body.get("prompt"))
        image = {k: body[k] for k in _IMAGE_OPTIONS if k in body}
        if image:
            task["image"] = image
        return "images", task
    options = {ours: body[theirs] for theirs, ours in _OPTIONS.items() if theirs in body}
    if url == "/v1/chat/completions":
        system, turns = _turns(body.get("messages"))
        task.update(type="chat", messages=turns)
        kind = "chat"
    elif url == "/v1/responses":
        given = body.get("input")
        system, turns = (None, [{"role": "user", "content": given}]) if isinstance(given, str) else _turns(given)
        if body.get("instructions"):
            system = body["instructions"]
        task.update(type="chat", messages=turns)
        kind = "responses"
    else:
        raise LineError("UNKNOWN_URL", f"url {url!r} is not one of /v1/chat/completions, /v1/responses, "
                                       "/v1/images/generations")
    if system:
        task["system"] = system
    if isinstance(options.get("response_format"), dict) and options["response_format"].get("type") == "text":
        del options["response_format"]
    return kind, _with_options(task, options)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts (OpenAI, Anthropic, Converse)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]
        if len(parts) == len(content) and parts:
            return "\n".join(parts)
    raise LineError("INVALID_LINE", "message content must be text (a string or text parts)")


def _turns(messages: Any) -> tuple[str | None, list[dict[str, str]]]:
    if not isinstance(messages, list) or not messages:
        raise LineError("INVALID_LINE", "`messages` must be a non-empty list")
    system, turns = [], []
    for message in messages:
        if not isinstance(message, dict):
            raise LineError("INVALID_LINE", "each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.append(_text(message.get("content")))
        elif role in ("user", "assistant"):
            turns.append({"role": role, "content": _text(message.get("content"))})
        else:
            raise LineError("INVALID_LINE", f"message role {role!r} is not supported in a batch")
    return ("\n".join(system) or None), turns


# ------------------------------------------------------------------ Bedrock
# [region.]vendor.name[-YYYYMMDD][-vN[:M]], e.g. us.anthropic.claude-sonnet-4-5-20250929-v1:0
_BEDROCK_ID = re.compile(r"^(?:[a-z]{2,4}\.)?(?P<vendor>[a-z0-9-]+)\.(?P<name>[a-z0-9.-]+?)"
                         r"(?:-\d{8})?(?:-v\d+(?::\d+)?)?$")


def bedrock_model(model_id: str) -> tuple[str, str]:
    """Our (provider, model) for a Bedrock model id: Anthropic's models by name; others are refused."""
    found = _BEDROCK_ID.match(model_id or "")
    if found and found["vendor"] == "anthropic":
        return "anthropic", found["name"]
    raise LineError("UNSUPPORTED_MODEL", f"Bedrock model {model_id!r} has no provider here; give the batch's "
                                         "defaults a provider and model to run these lines on")


def _bedrock(record: dict[str, Any], defaults: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    given = record.get("modelInput")
    if not isinstance(given, dict):
        raise LineError("INVALID_LINE", "`modelInput` must be an object")
    model_id = str(defaults.get("model") or "")
    if defaults.get("provider"):
        provider, model = str(defaults["provider"]), model_id
    else:
        provider, model = bedrock_model(model_id)
    task: dict[str, Any] = {"provider": provider, "model": model, "type": "chat"}
    options: dict[str, Any] = {}
    if "inputText" in given:  # Titan text
        kind = "titan"
        task["messages"] = [{"role": "user", "content": _text(given["inputText"])}]
        config = given.get("textGenerationConfig") or {}
        options = {"max_tokens": config.get("maxTokenCount"), "temperature": config.get("temperature"),
                   "top_p": config.get("topP"), "stop": config.get("stopSequences")}
    elif "anthropic_version" in given or "max_tokens" in given:  # Anthropic Messages
        kind = "anthropic"
        _, task["messages"] = _turns(given.get("messages"))
        if given.get("system"):
            task["system"] = _text(given["system"])
        options = {"max_tokens": given.get("max_tokens"), "temperature": given.get("temperature"),
                   "top_p": given.get("top_p"), "stop": given.get("stop_sequences")}
    elif "messages" in given:  # Converse
        kind = "converse"
        _, task["messages"] = _turns(given.get("messages"))
        if given.get("system"):
            task["system"] = _text(given["system"])
        config = given.get("inferenceConfig") or {}
        options = {"max_tokens": config.get("maxTokens"), "temperature": config.get("temperature"),
                   "top_p": config.get("topP"), "stop": config.get("stopSequences")}
    else:
        raise LineError("INVALID_LINE", "`modelInput` is none of Anthropic Messages, Converse or Titan text")
    options = {k: v for k, v in options.items() if v is not None}
    return kind, _with_options(task, options)


def _with_options(task: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The options the task's provider takes (Anthropic takes no sampling parameters: they are left out, as a
    fallback chain leaves them out, rather than failing the line)."""
    kept = {k: v for k, v in options.items() if k not in UNSUPPORTED.get(task["provider"], frozenset())}
    if kept:
        task["options"] = kept
    return task


def check_body(body: dict[str, Any], *, max_prompt_bytes: int) -> TaskCreate:
    """The line's body held to POST /api/tasks' rules (the same model, routing and size limit); LineError with
    the API's code otherwise. Presets and ComfyUI generations are not taken in batches."""
    from pydantic import ValidationError

    from spoonfeeder.errors import SpoonError
    from spoonfeeder.models.tasks import TaskCreate
    from spoonfeeder.tasks import routing

    if "profile_id" in body or body.get("provider") == "comfyui":
        raise LineError("NOT_AVAILABLE", "presets (profile_id) and ComfyUI generations are not taken in batches")
    try:
        checked = TaskCreate.model_validate(body)
        assert checked.type is not None and checked.provider is not None  # no preset: the model requires both
        routing.ensure_runnable(checked.type, checked.provider)
        if routing.lane_for(checked.type, checked.provider) is not routing.Lane.LLM:
            raise LineError("NOT_AVAILABLE", "batches run on the cloud providers (openai, anthropic, gemini)")
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
        raise LineError("VALIDATION_ERROR", problems[:1000]) from None
    except SpoonError as exc:
        raise LineError(exc.code, exc.message) from None
    size = checked.input_bytes()
    if size > max_prompt_bytes:
        raise LineError("PAYLOAD_TOO_LARGE", f"system, prompt and messages are {size} bytes; at most "
                                             f"{max_prompt_bytes} are allowed")
    return checked
