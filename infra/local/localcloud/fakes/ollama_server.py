"""A FAKE of Ollama's HTTP API, for tests of whatever drives a local Ollama (no GPU, no model, no download).

Not a model and never calls Ollama or its registry: it answers in Ollama's real wire format so the official
``ollama`` Python client works against it unchanged. Model management: ``GET /api/version``, ``GET /api/tags``
(installed models), ``GET /api/ps`` (loaded models, longest ``expires_at`` first), ``POST /api/show``,
``POST /api/pull`` (an NDJSON progress stream, or one object with ``stream:false``), ``DELETE /api/delete``
(200 with an empty body). Inference: ``POST /api/generate`` and ``POST /api/chat``, NDJSON streams by default
(``done:false`` chunks, then a ``done:true`` chunk with ``done_reason``, token counts and durations in
nanoseconds, metrics left out when zero); an empty prompt (or no messages) loads the model, and with
``keep_alive: 0`` unloads it. Errors are ``{"error": "…"}``; Ollama has no API key. The reply is
``"Echo: <prompt or last user message>"``, tokens are counted as words, durations are derived from the counts,
so everything is deterministic. Models live in memory: pull adds one (if the fake "library" knows it) when its
stream reaches "success" (a client that hangs up first leaves nothing installed), delete removes one. Faults are
scripted per generation request as fakes/base.py says:

    with FakeOllama(models=("llama3.2:latest",)) as server:
        server.fail_next(kind="unavailable")            # 503 "server busy, please try again. …"
        server.break_next_stream()                      # first piece, then an {"error": …} line
        client = ollama.Client(host=server.base_url)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from .base import FakeServer, Fault, json_answer, words

VERSION = "0.12.6"
DEFAULT_MODELS: tuple[str, ...] = ("llama3.2:latest",)
#: What the fake registry can pull (besides the installed models); any other name does not exist there.
DEFAULT_LIBRARY: tuple[str, ...] = ("llama3.2:latest", "llama3.2:1b", "qwen2.5:0.5b", "gemma3:1b",
                                    "mistral:latest")
#: `keep_alive` when the request gives none, as Ollama's default.
DEFAULT_KEEP_ALIVE = timedelta(minutes=5)
#: What a negative `keep_alive` ("forever") shows as `expires_at`.
_FOREVER = datetime(2318, 1, 1, tzinfo=UTC)
#: Simulated speeds, in nanoseconds: per prompt token, per generated token, and loading a model.
_PROMPT_NS, _EVAL_NS, _LOAD_NS = 1_000_000, 20_000_000, 500_000_000
#: The named faults as Ollama answers them (a local server has no key, no quota: busy or failing).
_KINDS: dict[str, tuple[int, str]] = {
    "bad_request": (400, "invalid options"),
    "context_too_long": (400, "the input length exceeds the context length"),
    "model_not_found": (404, "model not found"),
    "rate_limited": (503, "server busy, please try again.  maximum pending requests exceeded"),
    "unavailable": (503, "server busy, please try again.  maximum pending requests exceeded"),
    "invalid_key": (401, "unauthorized"),
    "permission_denied": (403, "forbidden"),
}
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def fault_response(fault: Fault) -> web.Response:
    status, message = _KINDS.get(fault.kind or "", (fault.status, f"simulated error {fault.status}"))
    return _error(status, fault.message or message)


def full_name(model: str) -> str:
    """Ollama's canonical name: a bare name means its `latest` tag."""
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


def keep_alive_of(value: Any) -> timedelta | None:
    """`keep_alive` (seconds, or a Go duration such as "5m" or "1h30m") as a span; None means forever (< 0).
    Raises ValueError on anything else, which Ollama answers with a 400."""
    if value is None:
        return DEFAULT_KEEP_ALIVE
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        sign = -1.0 if text.startswith("-") else 1.0
        body = text.lstrip("+-")
        if body in ("0", ""):
            seconds = 0.0
        elif _DURATION_PART.sub("", body) or not body:
            raise ValueError(value)
        else:
            seconds = sign * sum(float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(body))
    return None if seconds < 0 else timedelta(seconds=seconds)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _now() -> str:
    return _rfc3339(datetime.now(UTC))


def _metrics(prompt_tokens: int, reply_tokens: int, loaded_now: bool) -> dict[str, int]:
    """The final chunk's counts and durations (ns), derived from the token counts; zeros are left out."""
    metrics = {"load_duration": _LOAD_NS if loaded_now else 0,
               "prompt_eval_count": prompt_tokens, "prompt_eval_duration": prompt_tokens * _PROMPT_NS,
               "eval_count": reply_tokens, "eval_duration": reply_tokens * _EVAL_NS}
    total = metrics["load_duration"] + metrics["prompt_eval_duration"] + metrics["eval_duration"]
    return {name: value for name, value in {"total_duration": total, **metrics}.items() if value}


class ModelFile:
    """What Ollama knows about an installed model, derived from its name (stable digests and sizes)."""

    def __init__(self, name: str, modified_at: datetime) -> None:
        self.name = name
        self.digest = hashlib.sha256(name.encode()).hexdigest()
        self.size = 1_000_000_000 + int(self.digest[:8], 16) % 2_000_000_000
        self.modified_at = modified_at
        family = re.split(r"[\d:.]", name.rsplit("/", 1)[-1], maxsplit=1)[0] or "llama"
        self.details = {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                        "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}

    def listing(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.name, "modified_at": _rfc3339(self.modified_at),
                "size": self.size, "digest": self.digest, "details": self.details}

    def layers(self) -> list[tuple[str, int]]:
        """(digest, bytes) of the blobs a pull downloads: the weights, then the template and the params."""
        blobs = [("weights", self.size), ("template", 1_429), ("params", 96)]
        return [("sha256:" + hashlib.sha256(f"{self.name}/{part}".encode()).hexdigest(), size)
                for part, size in blobs]


class FakeOllama(FakeServer):
    """In-process fake Ollama server; see the module docstring."""

    name = "ollama"
    default_models = DEFAULT_MODELS
    #: Progress lines per blob in a pull stream (after the first, which carries only the total).
    pull_steps = 4

    def __init__(self, *args: Any, library: Sequence[str] = DEFAULT_LIBRARY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.library = {full_name(m) for m in library}
        now = datetime.now(UTC)
        self._installed = {full_name(m): ModelFile(full_name(m), now) for m in self.models}
        self.library |= set(self._installed)
        self._loaded: dict[str, datetime] = {}  # model -> expires_at

    def break_next_stream(self, message: str = "an error was encountered while running the model") -> None:
        """The next generation stream sends its first piece, then an `{"error": message}` line on its HTTP 200
        (as Ollama reports a failure once streaming has started) instead of the rest."""
        self.break_stream(message)

    # ------------------------------------------------------------------ state, for tests
    @property
    def installed(self) -> list[str]:
        with self._lock:
            return sorted(self._installed)

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._live_loaded())

    def _live_loaded(self) -> dict[str, datetime]:
        """Loaded models whose keep-alive has not run out (caller holds the lock)."""
        now = datetime.now(UTC)
        self._loaded = {m: t for m, t in self._loaded.items() if t > now and m in self._installed}
        return self._loaded

    def _keep(self, model: str, keep_alive: timedelta | None) -> bool:
        """Load `model` (or refresh its keep-alive); True when it was not loaded before."""
        with self._lock:
            was_loaded = model in self._live_loaded()
            self._loaded[model] = _FOREVER if keep_alive is None else datetime.now(UTC) + keep_alive
            return not was_loaded

    def _unload(self, model: str) -> None:
        with self._lock:
            self._loaded.pop(model, None)

    # ------------------------------------------------------------------ routes
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._running)  # aiohttp answers HEAD for every GET route
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        app.router.add_get("/api/ps", self._ps)
        app.router.add_post("/api/show", self._show)
        app.router.add_post("/api/pull", self._pull)
        app.router.add_delete("/api/delete", self._delete)
        app.router.add_post("/api/generate", self._generate)
        app.router.add_post("/api/chat", self._chat)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    async def _running(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _tags(self, request: web.Request) -> web.Response:
        with self._lock:
            models = sorted(self._installed.values(), key=lambda m: m.modified_at, reverse=True)
            return web.json_response({"models": [m.listing() for m in models]})

    async def _ps(self, request: web.Request) -> web.Response:
        with self._lock:
            loaded = sorted(self._live_loaded().items(), key=lambda item: item[1], reverse=True)
            models = [{**{k: v for k, v in self._installed[m].listing().items() if k != "modified_at"},
                       "expires_at": _rfc3339(expires), "size_vram": self._installed[m].size,
                       "context_length": 4096} for m, expires in loaded]
        return web.json_response({"models": models})

    async def _body(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """The JSON object of a management request and its model name, or Ollama's 400."""
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None, _error(400, "missing request body" if not await request.read() else "invalid JSON")
        if not isinstance(body, dict):
            return None, _error(400, "invalid request body")
        if not (body.get("model") or body.get("name")):
            return None, _error(400, "model is required")
        return body, None

    def _model_file(self, body: dict[str, Any]) -> tuple[str, ModelFile | None]:
        model = full_name(str(body.get("model") or body.get("name")))
        with self._lock:
            return model, self._installed.get(model)

    async def _installed_model(self, request: web.Request) -> ModelFile | web.Response:
        """The installed model a show/delete request names, or Ollama's 400/404 answer."""
        body, refused = await self._body(request)
        if refused is not None:
            return refused
        model, found = self._model_file(body)
        return found if found is not None else _error(404, f"model '{model}' not found")

    async def _show(self, request: web.Request) -> web.Response:
        found = await self._installed_model(request)
        if isinstance(found, web.Response):
            return found
        model = found.name
        template = "{{ if .System }}{{ .System }}\n{{ end }}{{ .Prompt }}"
        return web.json_response({
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {model}\nTEMPLATE \"\"\"{template}\"\"\"\n",
            "parameters": 'stop                           "<|eot_id|>"', "template": template,
            "details": found.details,
            "model_info": {"general.architecture": found.details["family"], "general.parameter_count": 3212749888,
                           f"{found.details['family']}.context_length": 131072},
            "capabilities": ["completion", "tools"], "modified_at": _rfc3339(found.modified_at)})

    async def _pull(self, request: web.Request) -> web.StreamResponse:
        body, refused = await self._body(request)
        if refused is not None:
            return refused
        model = full_name(str(body.get("model") or body.get("name")))
        stream = body.get("stream", True) is not False
        if model not in self.library:
            missing = "pull model manifest: file does not exist"
            if not stream:
                return _error(500, missing)
            return await self._send_lines(request, [{"status": "pulling manifest"}, {"error": missing}])
        with self._lock:
            target = self._installed.get(model) or ModelFile(model, datetime.now(UTC))
        lines: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        for digest, total in target.layers():
            status = {"status": f"pulling {digest.removeprefix('sha256:')[:12]}", "digest": digest, "total": total}
            lines.append(status)  # `completed` is left out while zero, as Ollama does
            lines += [{**status, "completed": total * step // self.pull_steps}
                      for step in range(1, self.pull_steps + 1)]
        lines += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]

        def install() -> dict[str, Any]:
            with self._lock:  # installed once the whole manifest is written, as Ollama does
                target.modified_at = datetime.now(UTC)
                self._installed[model] = target
            return {"status": "success"}

        if not stream:
            return web.json_response(install())

        def pulled() -> Iterator[dict[str, Any]]:
            # Lazily: a client that hangs up mid-pull (a cancel) stops the download, and nothing is installed.
            yield from lines
            yield install()

        return await self._send_lines(request, pulled())

    async def _delete(self, request: web.Request) -> web.Response:
        found = await self._installed_model(request)
        if isinstance(found, web.Response):
            return found
        with self._lock:
            self._installed.pop(found.name, None)
            self._loaded.pop(found.name, None)
        return web.Response(status=200)

    # ------------------------------------------------------------------ inference
    async def _generate(self, request: web.Request) -> web.StreamResponse:
        return await self._infer(request, "generate")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._infer(request, "chat")

    async def _infer(self, request: web.Request, kind: str) -> web.StreamResponse:
        """/api/generate and /api/chat: the same checks, loading rules and metrics; only the text's place differs
        (`prompt` → `response`, `messages` → `message.content`)."""
        body, fault = await self.admit(request, [], kind)
        if fault is not None and fault.kind != "timeout":
            return fault_response(fault)
        if body is None:
            return _error(400, "missing request body")
        if not isinstance(body, dict):
            return _error(400, "invalid request body")
        if not body.get("model"):
            return _error(400, "model is required")
        model, found = self._model_file(body)
        if found is None:
            return _error(404, f'model "{body["model"]}" not found, try pulling it first')
        try:
            keep_alive = keep_alive_of(body.get("keep_alive"))
        except ValueError:
            return _error(400, "time: invalid duration " + json.dumps(str(body.get("keep_alive"))))
        asked, given = self._asked(body, kind)
        head = {"model": body["model"]}
        if asked is None:  # nothing to answer: only load or unload
            if keep_alive == timedelta(0):
                self._unload(model)
                return self._single(kind, head, "", {"done_reason": "unload"})
            self._keep(model, keep_alive)
            return self._single(kind, head, "", {"done_reason": "load"})
        loaded_now = self._keep(model, keep_alive) if keep_alive != timedelta(0) else model not in self.loaded
        if keep_alive == timedelta(0):  # answered, then unloaded at once
            self._unload(model)
        reply = self.reply_to(asked)
        if body.get("format") == "json" or isinstance(body.get("format"), dict):
            reply = json_answer(reply)
        done_reason = "stop"
        limit = (body.get("options") or {}).get("num_predict")
        if isinstance(limit, int) and 0 <= limit < words(reply):
            reply, done_reason = " ".join(reply.split()[:limit]), "length"
        final = {"done_reason": done_reason, **_metrics(given, words(reply), loaded_now)}
        if kind == "generate":
            final["context"] = list(range(1, given + words(reply) + 1))
        if body.get("stream", True) is False:
            return self._single(kind, head, reply, final)
        chunks = [self._chunk(kind, head, piece, {"done": False}) for piece in self.pieces(reply)]
        chunks.append(self._chunk(kind, head, "", {"done": True, **final}))
        broken = self.next_broken_stream()
        if broken is not None:
            chunks = [*chunks[:1], {"error": broken}]
        return await self._send_lines(request, chunks)

    @staticmethod
    def _asked(body: dict[str, Any], kind: str) -> tuple[str | None, int]:
        """The text to answer (None when there is none: a load/unload request) and the prompt's token count."""
        if kind == "generate":
            prompt = body.get("prompt") or ""
            return (prompt or None), words(prompt) + words(body.get("system") or "")
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        users = [m for m in messages if m.get("role") == "user"]
        given = sum(words(str(m.get("content") or "")) for m in messages)
        if not messages:
            return None, 0
        return (str(users[-1].get("content") or "") if users else ""), given

    @staticmethod
    def _chunk(kind: str, head: dict[str, Any], text: str, rest: dict[str, Any]) -> dict[str, Any]:
        content = {"response": text} if kind == "generate" else {"message": {"role": "assistant", "content": text}}
        return {**head, "created_at": _now(), **content, **rest}

    def _single(self, kind: str, head: dict[str, Any], text: str, final: dict[str, Any]) -> web.Response:
        """The whole answer as one object (`stream: false`, and load/unload replies)."""
        return web.json_response(self._chunk(kind, head, text, {"done": True, **final}))

    async def _send_lines(self, request: web.Request, lines: Iterable[dict[str, Any]]) -> web.StreamResponse:
        """An NDJSON stream: one compact object per line, no blank lines (the client json-loads every line); each
        line is made only when it is sent."""
        encoded = ((json.dumps(line, separators=(",", ":")) + "\n").encode() for line in lines)
        return await self.send_stream(request, encoded, "application/x-ndjson")

    async def _not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found")
