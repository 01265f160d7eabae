"""This host's ComfyUI, over its HTTP API (httpx) and WebSocket (`websockets`' sync client): run an API-format
workflow with progress, list and fetch its outputs, interrupt, upload input images, and read the inventory.

A run connects the WebSocket first and only then submits the prompt, so no event of it is missed; ComfyUI sends
a prompt's events only to the socket named by its `client_id`. The prompt id is ours (a UUID4), so the messages
can be matched and /history asked before ComfyUI answers. The run ends at `execution_success`, or `executing`
with node null, and its outputs come from `/history/{prompt_id}` (the authority: it lists cached outputs too).
A dropped socket is reconnected; if that fails, /history is polled until the prompt is there, or until /queue no
longer knows it (ComfyUI restarted: the prompt is lost). A silent socket is checked against /history now and then,
since a socket can miss messages.

If a callback raises (the runner's event write fails because the task was cancelled), the prompt is interrupted
and the exception goes on unchanged. Failures become ProviderErrors with the task error codes (DESIGN §7); the
URL is never part of a message.
"""

from __future__ import annotations

import json
import mimetypes
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from spoonfeeder.image_format import identify
from spoonfeeder.providers.base import ErrorCode, ProviderError, sdk_errors
from spoonfeeder.providers.errors import Row, http_error, transport_error

from spoon_agent.comfyui_progress import OnProgress, RunProgress
from spoon_agent.comfyui_wire import (
    Output,
    execution_failed,
    history_outputs,
    input_choices,
    node_outputs,
    refused,
    stats,
)

if TYPE_CHECKING:
    import httpx
    from websockets.sync.client import ClientConnection

OnOutput = Callable[[Output], None]
#: Seconds allowed for an inventory call: a heartbeat must not wait as long as a run may.
PROBE_TIMEOUT = 5.0
CHUNK_BYTES = 64 * 1024
#: Bytes kept from the start of a fetched file: enough for the size in a PNG, JPEG or WebP header.
HEAD_BYTES = 64 * 1024
#: Largest WebSocket frame accepted: preview images arrive as binary frames.
MAX_FRAME_BYTES = 32 * 1024 * 1024
#: ComfyUI names no models in its URLs: a 404 is a missing file (/view) or route, not an unknown model.
ERROR_ROWS = (Row(ErrorCode.BAD_REQUEST, status=404),)
#: Where the inventory's choices come from: (node class, input) per list; samplers also from the V3 node.
OPTIONS = {
    "checkpoints": (("CheckpointLoaderSimple", "ckpt_name"),),
    "loras": (("LoraLoader", "lora_name"),),
    "samplers": (("KSampler", "sampler_name"), ("KSamplerSelect", "sampler_name")),
    "schedulers": (("KSampler", "scheduler"),),
}


class Interrupted(Exception):
    """ComfyUI reported the prompt interrupted (our /interrupt, or someone else's)."""

    def __init__(self, prompt_id: str, node: str | None = None) -> None:
        super().__init__(f"the prompt was interrupted at node {node}" if node else "the prompt was interrupted")
        self.prompt_id = prompt_id
        self.node = node


@dataclass
class RunResult:
    prompt_id: str
    outputs: list[Output] = field(default_factory=list)


def map_error(exc: Exception) -> ProviderError | None:
    """Transport failures of httpx or the WebSocket as task error codes; None for anything else."""
    err = transport_error(exc)
    if err is not None:
        return err
    from websockets.exceptions import InvalidHandshake, WebSocketException

    if isinstance(exc, TimeoutError):
        return ProviderError.of(ErrorCode.TIMEOUT, provider_message=str(exc) or "timed out")
    if isinstance(exc, OSError | InvalidHandshake | WebSocketException):
        return ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message=str(exc) or type(exc).__name__)
    if isinstance(exc, json.JSONDecodeError):
        return ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE, provider_message=f"unreadable answer: {exc.msg}")
    return None


def _guarded(call: Callable[[Any], None], on_raise: Callable[[], None]) -> Callable[[Any], None]:
    """`call`, running `on_raise` first when it raises (then the exception goes on)."""
    def guarded(value: Any) -> None:
        try:
            call(value)
        except BaseException:
            with suppress(Exception):
                on_raise()
            raise
    return guarded


class ComfyUI:
    """One ComfyUI server. `timeout`: seconds for an HTTP call or the WebSocket to connect (a run itself may
    take as long as it takes); `idle_check`: seconds of socket silence before /history is asked."""

    def __init__(self, base_url: str, client_id: str | None = None, *, timeout: float = 30.0,
                 probe_timeout: float = PROBE_TIMEOUT, progress_every: float = 0.25, poll_every: float = 0.5,
                 idle_check: float = 5.0, reconnects: int = 3) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.client_id = client_id or uuid.uuid4().hex
        self.timeout = timeout
        self.progress_every = progress_every
        self.poll_every = poll_every
        self.idle_check = idle_check
        self.reconnects = reconnects
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._probe = httpx.Client(base_url=self.base_url, timeout=probe_timeout)

    def close(self) -> None:
        self._http.close()
        self._probe.close()

    # -------------------------------------------------------------- HTTP
    def _request(self, method: str, path: str, *, probe: bool = False, **kwargs: Any) -> httpx.Response:
        with sdk_errors(map_error):
            answer = (self._probe if probe else self._http).request(method, path, **kwargs)
        _check(answer)
        return answer

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self._request(method, path, **kwargs)
        with sdk_errors(map_error):
            return answer.json()

    # -------------------------------------------------------------- readiness and inventory
    def system_stats(self) -> dict[str, Any]:
        """{"version": ComfyUI's version, "devices": [{name, type, index, vram_total, vram_free}]}."""
        return stats(self._json("GET", "/system_stats", probe=True))

    def up(self) -> bool:
        """Whether ComfyUI answers; never raises."""
        try:
            self.system_stats()
        except Exception:
            return False
        return True

    def wait_ready(self, timeout: float) -> None:
        """Poll until ComfyUI answers (it refuses connections, or answers 5xx, while it starts); a retryable
        PROVIDER_UNAVAILABLE if it does not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not self.up():
            if time.monotonic() >= deadline:
                raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE,
                                       provider_message=f"ComfyUI was not ready after {timeout:g} s")
            time.sleep(min(self.poll_every, max(0.0, deadline - time.monotonic())))

    def options(self) -> dict[str, list[str]]:
        """The checkpoints, LoRAs, samplers and schedulers this ComfyUI offers (one small /object_info call per
        node class rather than the whole node library, megabytes on a real server)."""
        info: dict[str, Any] = {}
        for node_class in {node_class for places in OPTIONS.values() for node_class, _ in places}:
            info.update(self._json("GET", f"/object_info/{node_class}", probe=True))
        found: dict[str, list[str]] = {}
        for name, places in OPTIONS.items():
            choices = [choice for place in places for choice in input_choices(info, *place)]
            found[name] = list(dict.fromkeys(choices))  # in ComfyUI's order, each once
        return found

    # -------------------------------------------------------------- files
    def upload_image(self, name: str, stream: IO[bytes], *, subfolder: str = "",
                     overwrite: bool = False) -> dict[str, str]:
        """Upload an input image (read from `stream` in chunks); ComfyUI's answer {"name", "subfolder", "type"}:
        `name` differs from the one given when a different file already had it."""
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = {"type": "input", "subfolder": subfolder, "overwrite": "true" if overwrite else "false"}
        answer = self._json("POST", "/upload/image", files={"image": (name, stream, content_type)}, data=fields)
        return {"name": str(answer["name"]), "subfolder": str(answer.get("subfolder") or ""),
                "type": str(answer.get("type") or "input")}

    def fetch(self, output: Output, sink: IO[bytes]) -> dict[str, Any]:
        """Stream one output from /view into `sink`, chunk by chunk; {"content_type", "bytes"}, plus "width" and
        "height" for an image whose header gives them (PNG, JPEG, WebP)."""
        size, head = 0, b""
        with sdk_errors(map_error), self._http.stream("GET", "/view", params=output.view_params) as answer:
            _check(answer)
            for chunk in answer.iter_bytes(CHUNK_BYTES):
                if len(head) < HEAD_BYTES:
                    head += chunk[:HEAD_BYTES - len(head)]
                sink.write(chunk)
                size += len(chunk)
            content_type = answer.headers.get("content-type", "").split(";")[0].strip()
        fetched: dict[str, Any] = {"content_type": content_type or mimetypes.guess_type(output.filename)[0]
                                   or "application/octet-stream", "bytes": size}
        image = identify(head)
        if image.width is not None and fetched["content_type"].startswith("image/"):
            fetched.update(width=image.width, height=image.height)
        return fetched

    # -------------------------------------------------------------- runs
    def interrupt(self, prompt_id: str) -> None:
        """Stop `prompt_id` if it is running (ComfyUI stops between steps or nodes)."""
        self._request("POST", "/interrupt", json={"prompt_id": prompt_id})

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt's history entry, None while it is unknown or unfinished."""
        entry = self._json("GET", f"/history/{prompt_id}").get(prompt_id)
        return entry if isinstance(entry, dict) else None

    def run(self, workflow: Mapping[str, Any] | str, on_progress: OnProgress,
            on_output: OnOutput | None = None, *, prompt_id: str | None = None) -> RunResult:
        """Run an API-format workflow (already parameterised) to its end. `on_progress` gets coalesced progress
        and a final 100; `on_output` each file as a node reports it (the result's outputs, from /history, are the
        complete list). A refused workflow or a failed node: a non-retryable ProviderError; an interrupted
        prompt: Interrupted. `prompt_id` may be given (to interrupt the run from elsewhere); else a new UUID."""
        prompt_id = prompt_id or str(uuid.uuid4())
        graph = json.loads(workflow) if isinstance(workflow, str) else workflow

        def stop() -> None:
            self.interrupt(prompt_id)

        progress = RunProgress(_guarded(on_progress, stop), nodes=len(graph), every=self.progress_every)
        told = _guarded(on_output, stop) if on_output is not None else None
        with self._socket() as socket:
            self._submit(workflow, prompt_id)
            entry = self._watch(socket, prompt_id, progress, told)
        entry = entry or self._wait_history(prompt_id)
        _raise_failure(prompt_id, entry)
        result = RunResult(prompt_id, history_outputs(entry))
        progress.finish()
        return result

    def _submit(self, workflow: Mapping[str, Any] | str, prompt_id: str) -> None:
        """POST /prompt. A workflow given as JSON text is sent as those very bytes (a stored snapshot, exactly;
        parsed and dumped again, 1.0 could come back as 1)."""
        text = workflow if isinstance(workflow, str) else json.dumps(workflow)
        body = (f'{{"prompt": {text}, "client_id": {json.dumps(self.client_id)}, '
                f'"prompt_id": {json.dumps(prompt_id)}}}').encode()
        with sdk_errors(map_error):
            answer = self._http.post("/prompt", content=body, headers={"content-type": "application/json"})
        if answer.status_code == 400:
            with suppress(ValueError):
                raise refused(400, answer.json())
            raise refused(400, {})
        _check(answer)

    # -------------------------------------------------------------- the WebSocket
    def _ws_url(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + f"/ws?clientId={self.client_id}"

    def _connect(self) -> ClientConnection:
        from websockets.sync.client import connect

        with sdk_errors(map_error):
            return connect(self._ws_url(), open_timeout=self.timeout, max_size=MAX_FRAME_BYTES)

    @contextmanager
    def _socket(self) -> Iterator[_Socket]:
        socket = _Socket()
        try:
            socket.open(self._connect())
            yield socket
        finally:
            socket.close()

    def _reconnect(self, socket: _Socket) -> bool:
        """A new connection in place of a dropped one (the same client id, so the run's events come to it)."""
        for attempt in range(self.reconnects):
            time.sleep(min(2.0, 0.1 * 2**attempt))
            try:
                socket.open(self._connect())
            except ProviderError:
                continue
            return True
        return False

    def _watch(self, socket: _Socket, prompt_id: str, progress: RunProgress,
               on_output: OnOutput | None) -> dict[str, Any] | None:
        """Read our prompt's messages up to its end; its history entry when that was already read, else None."""
        from websockets.exceptions import ConnectionClosed

        reported = 0
        while True:
            try:
                raw = socket.connection.recv(timeout=self.idle_check)
            except TimeoutError:  # silent for a while: a message may have been missed
                entry = self.history(prompt_id)
                if entry is not None:
                    return entry
                continue
            except ConnectionClosed:
                if not self._reconnect(socket):
                    return None  # the caller polls /history
                entry = self.history(prompt_id)  # it may have finished while no socket listened
                if entry is not None:
                    return entry
                continue
            if not isinstance(raw, str):  # preview images
                continue
            with sdk_errors(map_error):
                message = json.loads(raw)
            kind, data = message.get("type"), message.get("data")
            if not isinstance(data, dict) or data.get("prompt_id") != prompt_id:
                continue
            if kind == "execution_success" or (kind == "executing" and data.get("node") is None):
                return None
            if kind == "execution_error":
                raise execution_failed(data)
            if kind == "execution_interrupted":
                raise Interrupted(prompt_id, data.get("node_id"))
            if kind == "executed" and on_output is not None:
                for output in node_outputs(data.get("node", ""), data.get("output"), start=reported):
                    on_output(output)
                    reported += 1
            progress.add(str(kind), data)

    def _wait_history(self, prompt_id: str) -> dict[str, Any]:
        """Poll /history until the prompt is there; PROVIDER_UNAVAILABLE once ComfyUI no longer knows it."""
        while True:
            entry = self.history(prompt_id)
            if entry is not None:
                return entry
            queue = self._json("GET", "/queue")
            queued = {str(item[1]) for key in ("queue_running", "queue_pending") for item in queue.get(key) or []
                      if isinstance(item, list) and len(item) > 1}
            if prompt_id not in queued:
                entry = self.history(prompt_id)  # it may have finished between the two calls
                if entry is not None:
                    return entry
                raise ProviderError.of(ErrorCode.PROVIDER_UNAVAILABLE,
                                       provider_message="ComfyUI lost the prompt (restarted?)")
            time.sleep(self.poll_every)


@dataclass
class _Socket:
    """The run's WebSocket, replaced in place when it reconnects (entered as a context, as `websockets` asks)."""

    connection: ClientConnection = field(init=False)
    _stack: ExitStack = field(default_factory=ExitStack)

    def open(self, connection: ClientConnection) -> None:
        self.close()
        self.connection = self._stack.enter_context(connection)

    def close(self) -> None:
        with suppress(Exception):
            self._stack.close()


def _check(answer: httpx.Response) -> None:
    """A non-2xx answer as a ProviderError: 5xx unavailable (retryable), 4xx by ComfyUI's and the common rows."""
    if answer.status_code < 400:
        return
    if not answer.is_closed:
        answer.read()
    message = answer.text[:500] or answer.reason_phrase
    raise http_error(ERROR_ROWS, status=answer.status_code, kind=None, message=message)


def _raise_failure(prompt_id: str, entry: Mapping[str, Any]) -> None:
    """The failure a history entry records (when the socket missed it): the node's error, or Interrupted."""
    status = entry.get("status") or {}
    if status.get("status_str") != "error":
        return
    for kind, data in reversed(status.get("messages") or []):
        if kind == "execution_error":
            raise execution_failed(data)
        if kind == "execution_interrupted":
            raise Interrupted(prompt_id, data.get("node_id"))
    raise ProviderError(ErrorCode.BAD_REQUEST, "ComfyUI failed running the workflow", retryable=False)
