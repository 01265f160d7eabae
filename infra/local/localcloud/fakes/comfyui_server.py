"""A FAKE of ComfyUI's HTTP and WebSocket API, for tests of whatever drives ComfyUI (no GPU, no torch, no weights).

Not a model and never calls ComfyUI: it speaks ComfyUI's wire format as a real server was seen speaking it, so a
plain HTTP client plus a WebSocket client cannot tell the difference. ComfyUI has no API key. Every route also
answers under `/api`. Routes: `GET /` (readiness), `/system_stats`, `/object_info[/{class}]` (both combo shapes:
core nodes `[[choices], {}]`, V3 nodes `["COMBO", {"options": [...]}]`), `/models[/{folder}]`, `GET|POST /prompt`
(a malformed body is a 500, a graph that fails validation a 400 with `error` and `node_errors`), `GET|POST /queue`,
`GET|POST /history[/{prompt_id}]` (`{}` while a prompt is unknown or unfinished), `/view` (the bytes of a file it
wrote, with its content type), `POST /upload/image` (multipart; a name clash gets "x (1).png"), `POST /interrupt`,
`POST /free`, and the WebSocket `/ws?clientId=`.

A prompt runs on the server's own loop through a small node library (fakes/comfyui_nodes.py): loaders, text
encoders, `EmptyLatentImage`, `KSampler` (one `progress` per step), `VAEDecode`, `SaveImage`, `PreviewImage`,
`EmptyImage`, `ImageInvert`, `LoadImage`, `VHS_VideoCombine` (output key `gifs`: a real GIF, or a placeholder MP4),
and the audio nodes down to `SaveAudio` (key `audio`; a WAV file where real ComfyUI writes FLAC). Images are real
PNGs of the requested size, one solid colour derived from the inputs. The WebSocket order is what ComfyUI sends:
`status`, `execution_start`, `execution_cached`, per node `executing`, `progress` and `progress_state`, `executed`
for output nodes, then `execution_success` (or `execution_error` / `execution_interrupted`), `status`, and last
`executing` with node null, after the history entry is written. Events go only to the socket whose `clientId`
the prompt named. An identical rerun is served from cache and writes no file. Test hooks:

    with FakeComfyUI(step_delay=0.05) as comfy:
        comfy.fail_next(node_id="3", exception="CUDA out of memory")   # execution_error at node 3
        comfy.drop_websocket_after(4)            # close the socket after its next 4 messages
        comfy.prompts                            # every POST /prompt body, raw bytes and parsed
        comfy.calls["interrupt"], comfy.calls["upload"], comfy.files
    FakeComfyUI(start_delay=2)                   # refuses connections for 2 s (starting_status=503: answers 503)
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import posixpath
import socket
import time
import uuid
from collections import deque
from collections.abc import Sequence
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .base import FakeServer
from .comfyui_files import FileStore
from .comfyui_nodes import NODES, object_info
from .comfyui_run import Failure, Job, Run
from .comfyui_validate import validate

VERSION = "0.3.64"
DEFAULT_CHECKPOINTS = ("v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors")
DEFAULT_LORAS = ("add_detail.safetensors",)
DEFAULT_DEVICES: tuple[dict[str, Any], ...] = (
    {"name": "cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync", "type": "cuda", "index": 0,
     "vram_total": 25_393_692_672, "vram_free": 24_000_000_000, "torch_vram_total": 0, "torch_vram_free": 0},)
_FEATURES = {"supports_preview_metadata": True, "max_upload_size": 104_857_600}


class FakeComfyUI(FakeServer):
    """In-process fake ComfyUI server; see the module docstring."""

    name = "comfyui"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, step_delay: float = 0.0,
                 start_delay: float = 0.0, starting_status: int | None = None,
                 checkpoints: Sequence[str] = DEFAULT_CHECKPOINTS, loras: Sequence[str] = DEFAULT_LORAS,
                 devices: Sequence[dict[str, Any]] = DEFAULT_DEVICES) -> None:
        super().__init__(host, port)
        self.step_delay = step_delay
        self.start_delay = start_delay
        self.starting_status = starting_status
        self.devices = [dict(d) for d in devices]
        self.store = FileStore({"checkpoints": list(checkpoints), "loras": list(loras)})
        self._ready_at = 0.0
        self._failures: deque[Failure] = deque()
        self._history: dict[str, dict[str, Any]] = {}
        self._pending: list[Job] = []
        self._run: Run | None = None
        self._cache: dict[str, Any] = {}
        self._counter = 0
        self._interrupt = False
        self._sockets: dict[str, web.WebSocketResponse] = {}
        self._ws_sent = 0
        self._drop_at: int | None = None
        self._wake: asyncio.Event | None = None

    # ------------------------------------------------------------------ test hooks
    def fail_next(self, node_id: str | None = None, exception: str = "simulated failure",  # type: ignore[override]
                  exception_type: str = "RuntimeError") -> None:
        """The next run of `node_id` (or the first node of the next prompt that runs one) fails with an
        `execution_error` carrying this exception."""
        with self._lock:
            self._failures.append(Failure(node_id, exception, exception_type))

    def drop_websocket_after(self, n: int) -> None:
        """Close the WebSocket that receives the n-th message from now (the client must reconnect or poll)."""
        with self._lock:
            self._drop_at = self._ws_sent + n

    @property
    def prompts(self) -> list[dict[str, Any]]:
        """Every POST /prompt received: `{"raw": bytes, "json": parsed or None}`."""
        return [{"raw": r["raw"], "json": r["json"]} for r in self.requests if r["path"].endswith("/prompt")]

    @property
    def calls(self) -> dict[str, int]:
        with self._lock:
            return dict(self._calls)

    @property
    def files(self) -> list[tuple[str, str, str]]:
        """(type, subfolder, filename) of every file held: outputs, temp previews and uploads."""
        return self.store.names()

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._history.get(prompt_id)

    # ------------------------------------------------------------------ lifecycle
    async def _serve(self) -> None:
        self._wake = asyncio.Event()
        asyncio.get_running_loop().create_task(self._worker())
        self._ready_at = time.monotonic() + self.start_delay
        if not self.start_delay or self.starting_status is not None:
            await super()._serve()
            return
        if not self.port:  # reserve a port to report, then leave it closed while "starting"
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]

        async def bind_later() -> None:
            await asyncio.sleep(self.start_delay)
            await super(FakeComfyUI, self)._serve()

        asyncio.get_running_loop().create_task(bind_later())

    @web.middleware
    async def _starting(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if time.monotonic() < self._ready_at and self.starting_status is not None:
            return web.Response(status=self.starting_status, text="ComfyUI is starting")
        return await handler(request)

    def routes(self, app: web.Application) -> None:
        app.middlewares.append(self._starting)
        for prefix in ("", "/api"):
            app.router.add_get(prefix + "/", self._index)
            app.router.add_get(prefix + "/ws", self._websocket)
            app.router.add_get(prefix + "/system_stats", self._system_stats)
            app.router.add_get(prefix + "/object_info", self._object_info)
            app.router.add_get(prefix + "/object_info/{node_class}", self._object_info)
            app.router.add_get(prefix + "/models", self._models)
            app.router.add_get(prefix + "/models/{folder}", self._models)
            app.router.add_get(prefix + "/prompt", self._queue_size)
            app.router.add_post(prefix + "/prompt", self._prompt)
            app.router.add_get(prefix + "/queue", self._queue)
            app.router.add_post(prefix + "/queue", self._edit_queue)
            app.router.add_get(prefix + "/history", self._histories)
            app.router.add_post(prefix + "/history", self._edit_history)
            app.router.add_get(prefix + "/history/{prompt_id}", self._one_history)
            app.router.add_get(prefix + "/view", self._view)
            app.router.add_post(prefix + "/upload/image", self._upload)
            app.router.add_post(prefix + "/interrupt", self._interrupt_route)
            app.router.add_post(prefix + "/free", self._free)

    # ------------------------------------------------------------------ information
    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(text="<!DOCTYPE html><html><head><title>ComfyUI</title></head><body></body></html>",
                            content_type="text/html")

    async def _system_stats(self, request: web.Request) -> web.Response:
        system = {"os": "posix", "ram_total": 67_000_000_000, "ram_free": 50_000_000_000,
                  "comfyui_version": VERSION, "required_frontend_version": "1.28.6", "python_version": "3.11.9",
                  "pytorch_version": "2.8.0+cu128", "embedded_python": False, "argv": ["main.py"]}
        return web.json_response({"system": system, "devices": self.devices})

    async def _object_info(self, request: web.Request) -> web.Response:
        wanted = request.match_info.get("node_class")
        if wanted is not None:
            node = NODES.get(wanted)
            return web.json_response({wanted: object_info(node, self.store.folder)} if node else {})
        return web.json_response({name: object_info(node, self.store.folder) for name, node in NODES.items()})

    async def _models(self, request: web.Request) -> web.Response:
        folder = request.match_info.get("folder")
        if folder is None:
            return web.json_response(["checkpoints", "loras", "vae", "upscale_models"])
        if folder not in ("checkpoints", "loras", "vae", "upscale_models"):
            return web.Response(status=404)
        return web.json_response(list(self.store.folder(folder)))

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": len(self._pending) + (self._run is not None)}}

    async def _queue_size(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    async def _queue(self, request: web.Request) -> web.Response:
        running = [self._run.job.queue_item()] if self._run is not None else []
        pending = [job.queue_item() for job in sorted(self._pending, key=lambda j: j.number)]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _edit_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._pending.clear()
        doomed = set(body.get("delete") or [])
        self._pending = [job for job in self._pending if job.prompt_id not in doomed]
        await self._broadcast_status()
        return web.Response(status=200)

    async def _histories(self, request: web.Request) -> web.Response:
        with self._lock:
            items = list(self._history.items())
        offset = int(request.query.get("offset", 0))
        limit = request.query.get("max_items")
        items = items[offset:offset + int(limit)] if limit is not None else items[offset:]
        return web.json_response(dict(items))

    async def _one_history(self, request: web.Request) -> web.Response:
        entry = self.history(request.match_info["prompt_id"])
        return web.json_response({request.match_info["prompt_id"]: entry} if entry else {})

    async def _edit_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            if body.get("clear"):
                self._history.clear()
            for prompt_id in body.get("delete") or []:
                self._history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _free(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    # ------------------------------------------------------------------ files
    async def _view(self, request: web.Request) -> web.Response:
        query = request.query
        filename, subfolder, kind = query.get("filename"), query.get("subfolder", ""), query.get("type", "output")
        if filename is None:
            return web.Response(status=404)
        if filename.startswith("/") or ".." in filename or kind not in ("output", "input", "temp"):
            return web.Response(status=400)
        if posixpath.normpath(posixpath.join("root", subfolder)).split("/")[0] != "root":
            return web.Response(status=403)
        data = self.store.read(kind, posixpath.normpath(subfolder) if subfolder else "", filename)
        if data is None:
            return web.Response(status=404)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.Response(body=data, content_type=content_type,
                            headers={"Content-Disposition": f'filename="{filename}"'})

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        kind = str(form.get("type") or "input")
        subfolder = str(form.get("subfolder") or "")
        if not isinstance(image, web.FileField) or not image.filename or kind not in ("input", "temp", "output"):
            return web.Response(status=400)
        if subfolder and posixpath.normpath(posixpath.join("root", subfolder)).split("/")[0] != "root":
            return web.Response(status=400)
        with self._lock:
            self._calls["upload"] += 1
        overwrite = str(form.get("overwrite") or "") in ("true", "1")
        name = self.store.upload(kind, subfolder, image.filename, image.file.read(), overwrite)
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    # ------------------------------------------------------------------ prompts
    async def _prompt(self, request: web.Request) -> web.Response:
        raw = await request.read()
        with self._lock:
            self._requests.append({"method": "POST", "path": request.path, "raw": raw, "json": None,
                                   "headers": dict(request.headers)})
            self._calls["prompt"] += 1
        body = json.loads(raw)  # a malformed body raises: aiohttp answers 500, as ComfyUI does
        with self._lock:
            self._requests[-1]["json"] = body
        if not isinstance(body, dict) or "prompt" not in body:
            return web.json_response({"error": {"type": "no_prompt", "message": "No prompt provided",
                                                "details": "No prompt provided", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        prompt_id = body.get("prompt_id") or str(uuid.uuid4())
        if not _canonical_uuid(prompt_id):
            return web.json_response({"error": {"type": "invalid_prompt_id", "message": "Invalid prompt_id",
                                                "details": f"prompt_id must be a UUID: {prompt_id}",
                                                "extra_info": {}}, "node_errors": {}}, status=400)
        verdict = validate(body["prompt"], self.store.folder, body.get("partial_execution_targets"))
        if verdict.error is not None:
            return web.json_response({"error": verdict.error, "node_errors": verdict.node_errors}, status=400)
        self._counter += 1
        number = float(body["number"]) if "number" in body else (-self._counter if body.get("front")
                                                                   else self._counter)
        client_id = body.get("client_id")
        extra = {**(body.get("extra_data") or {}), "create_time": int(time.time() * 1000)}
        if client_id is not None:
            extra["client_id"] = client_id
        self._pending.append(Job(number, prompt_id, body["prompt"], extra, verdict.outputs, client_id))
        await self._broadcast_status()
        assert self._wake is not None
        self._wake.set()
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors})

    async def _interrupt_route(self, request: web.Request) -> web.Response:
        raw = await request.read()
        target = json.loads(raw).get("prompt_id") if raw.strip() else None
        with self._lock:
            self._calls["interrupt"] += 1
        if self._run is not None and target in (None, self._run.job.prompt_id):
            self._interrupt = True
        return web.Response(status=200)

    async def _worker(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                job = min(self._pending, key=lambda j: j.number)
                self._pending.remove(job)
                await self._execute(job)

    async def _execute(self, job: Job) -> None:
        async def send(kind: str, data: dict[str, Any], broadcast: bool) -> None:
            await self._send(job.client_id, kind, data, broadcast)

        self._interrupt = False
        self._run = Run(job, self.store.writer(job), send, self._cache, self.step_delay, lambda: self._interrupt,
                        self._take_failure)
        entry = await self._run.execute()
        with self._lock:
            self._history[job.prompt_id] = entry
        self._run = None
        await self._broadcast_status()
        await send("executing", {"node": None, "prompt_id": job.prompt_id}, False)

    def _take_failure(self, node_id: str) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.node_id in (None, node_id):
                    self._failures.remove(failure)
                    return failure
        return None

    # ------------------------------------------------------------------ websocket
    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[sid] = ws
        try:
            await self._send_to(ws, "status", {"status": self._queue_info(), "sid": sid})
            run = self._run
            if run is not None and run.job.client_id == sid and run.current is not None:
                await self._send_to(ws, "executing", {"node": run.current, "display_node": run.current,
                                                      "prompt_id": run.job.prompt_id})
            first = True
            async for message in ws:
                if first and message.type == WSMsgType.TEXT:
                    hello = json.loads(message.data)
                    if isinstance(hello, dict) and hello.get("type") == "feature_flags":
                        await self._send_to(ws, "feature_flags", _FEATURES)
                first = False
        finally:
            if self._sockets.get(sid) is ws:
                del self._sockets[sid]
        return ws

    async def _send(self, client_id: str | None, kind: str, data: dict[str, Any], broadcast: bool) -> None:
        """To the prompt's client; messages ComfyUI broadcasts go to every socket when there is none."""
        if client_id is not None:
            ws = self._sockets.get(client_id)
            targets = [ws] if ws is not None else []
        else:
            targets = list(self._sockets.values()) if broadcast else []
        for ws in targets:
            await self._send_to(ws, kind, data)

    async def _broadcast_status(self) -> None:
        for ws in list(self._sockets.values()):
            await self._send_to(ws, "status", {"status": self._queue_info()})

    async def _send_to(self, ws: web.WebSocketResponse, kind: str, data: dict[str, Any]) -> None:
        if ws.closed:
            return
        try:
            await ws.send_str(json.dumps({"type": kind, "data": data}))
        except (ConnectionResetError, RuntimeError):
            return
        with self._lock:
            self._ws_sent += 1
            drop = self._drop_at is not None and self._ws_sent >= self._drop_at
            if drop:
                self._drop_at = None
        if drop:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by the test")


def _canonical_uuid(text: Any) -> bool:
    try:
        return isinstance(text, str) and str(uuid.UUID(text)) == text
    except ValueError:
        return False

