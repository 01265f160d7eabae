"""The fake ComfyUI's folders, in memory: output, temp and input files by (type, subfolder, filename), plus the
model folders `/object_info` lists. File names follow ComfyUI's savers: `{prefix}_{counter:05}_.png` (the counter
continues from the highest file of that prefix), `VHS_VideoCombine`'s `{prefix}_{counter:05}.gif`, a subfolder
taken from the prefix ("audio/ComfyUI"), and uploads that clash with a different file renamed "x (1).png"."""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import threading
from typing import Any

from . import comfyui_media as media
from .comfyui_nodes import Picture, Sound
from .comfyui_run import Job

Key = tuple[str, str, str]  # (type, subfolder, filename)


class FileStore:
    def __init__(self, models: dict[str, list[str]]) -> None:
        self.models = models
        self._files: dict[Key, bytes] = {}
        self._lock = threading.Lock()

    def folder(self, name: str) -> list[str]:
        """A combo's choices: a model folder, or the input files ("sub/name" in a subfolder)."""
        if name == "input":
            with self._lock:
                return sorted(posixpath_join(sub, file) for kind, sub, file in self._files if kind == "input")
        return list(self.models.get(name, []))

    def names(self) -> list[Key]:
        with self._lock:
            return sorted(self._files)

    def read(self, kind: str, subfolder: str, filename: str) -> bytes | None:
        with self._lock:
            return self._files.get((kind, subfolder, filename))

    def upload(self, kind: str, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str:
        stem, dot, ext = filename.rpartition(".")
        stem, ext = (stem, dot + ext) if dot else (filename, "")
        name, n = filename, 1
        with self._lock:
            while not overwrite and (kind, subfolder, name) in self._files:
                if self._files[(kind, subfolder, name)] == data:  # the same content keeps its name
                    return name
                name, n = f"{stem} ({n}){ext}", n + 1
            self._files[(kind, subfolder, name)] = data
        return name

    def write(self, kind: str, prefix: str, ext: str, data_of: Any, separator: str = "_") -> dict[str, str]:
        """Write the next file of `prefix` and return its `{filename, subfolder, type}`."""
        subfolder, _, base = prefix.rpartition("/")
        pattern = re.compile(re.escape(base) + r"_(\d{5})" + re.escape(separator.rstrip("_")))
        with self._lock:
            used = [int(m.group(1)) for k, s, f in self._files if (k, s) == (kind, subfolder)
                    and (m := pattern.match(f))]
            filename = f"{base}_{max(used, default=0) + 1:05}{separator}.{ext}"
            self._files[(kind, subfolder, filename)] = data_of(filename)
        return {"filename": filename, "subfolder": subfolder, "type": kind}

    def put(self, key: Key, data: bytes) -> None:
        with self._lock:
            self._files[key] = data

    def writer(self, job: Job) -> Writer:
        return Writer(self, job)


def posixpath_join(subfolder: str, filename: str) -> str:
    return f"{subfolder}/{filename}" if subfolder else filename


class Writer:
    """The `Saver` output nodes of one job write through (SaveImage stores the job's graph in each PNG)."""

    def __init__(self, store: FileStore, job: Job) -> None:
        self.store, self.job = store, job

    def save_images(self, prefix: str, picture: Picture, kind: str) -> list[dict[str, Any]]:
        if kind == "temp":
            prefix += "_" + "".join(random.choice(string.ascii_lowercase) for _ in range(5))
        text = {"prompt": json.dumps(self.job.graph)}
        return [self.store.write(kind, prefix, "png", lambda _, c=color: media.png(picture.width, picture.height,
                                                                                     c, text))
                for color in picture.colors]

    def save_video(self, prefix: str, picture: Picture, video_format: str, frame_rate: float,
                   loop_count: int) -> dict[str, Any]:
        ext = "gif" if video_format == "image/gif" else "mp4"

        def encode(_: str) -> bytes:
            if ext == "gif":
                return media.gif(picture.width, picture.height, picture.colors, frame_rate, loop_count)
            return media.mp4(picture.width, picture.height, len(picture.colors), frame_rate)

        entry = self.store.write("output", prefix, ext, encode, separator="")
        stem = entry["filename"].rsplit(".", 1)[0]
        self.store.put(("output", entry["subfolder"], f"{stem}.png"),
                       media.png(picture.width, picture.height, picture.colors[0]))
        full = posixpath_join(entry["subfolder"], entry["filename"])
        return {**entry, "format": video_format, "frame_rate": frame_rate, "workflow": f"{stem}.png",
                "fullpath": f"/ComfyUI/output/{full}"}

    def save_audio(self, prefix: str, sound: Sound) -> dict[str, Any]:
        return self.store.write("output", prefix, "wav", lambda _: media.wav(sound.seconds, sound.sample_rate))

    def input_size(self, name: str) -> tuple[int, int]:
        data = self._input(name)
        return (media.png_size(data) if data else None) or (512, 512)

    def input_digest(self, name: str) -> str:
        return hashlib.sha256(self._input(name) or b"").hexdigest()

    def _input(self, name: str) -> bytes | None:
        subfolder, _, filename = name.rpartition("/")
        return self.store.read("input", subfolder, filename)
