"""The files the fake ComfyUI writes, made with the standard library only (no Pillow, no ffmpeg): real PNGs of the
requested size, real animated GIFs, WAV audio, and a placeholder MP4 container. Each carries a label saying it is
simulated output."""

from __future__ import annotations

import math
import struct
import zlib
from array import array
from collections.abc import Sequence

LABEL = "simulated output of a fake ComfyUI"


def rgb(color: int) -> bytes:
    """0xRRGGBB as three bytes."""
    return bytes(((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, color: int, text: dict[str, str] | None = None) -> bytes:
    """A solid-colour RGB PNG; `text` becomes tEXt chunks (SaveImage stores the prompt there)."""
    row = b"\x00" + rgb(color) * width  # filter type 0, then the pixels
    pixels = zlib.compress(row * height, 6)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    texts = b"".join(_chunk(b"tEXt", f"{key}\x00{value}".encode("latin-1", "replace"))
                     for key, value in {"Comment": LABEL, **(text or {})}.items())
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + texts + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, or None when `data` is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


#: GIF codes stay 8 bits wide when a clear code comes before the table grows to 256 entries: 7-bit colour
#: indices, clear = 128, end = 129, and at most 125 table entries (one per code after the first) per run.
_GIF_RUN = 120


def _gif_pixels(index_count: int) -> bytes:
    """LZW data for `index_count` pixels of colour index 0 (each frame is one solid colour of its own palette)."""
    codes = bytearray()
    for start in range(0, index_count, _GIF_RUN):
        codes.append(128)
        codes.extend(b"\x00" * min(_GIF_RUN, index_count - start))
    codes.append(129)
    blocks = b"".join(bytes([len(codes[i:i + 255])]) + codes[i:i + 255] for i in range(0, len(codes), 255))
    return b"\x07" + blocks + b"\x00"


def gif(width: int, height: int, colors: Sequence[int], frame_rate: float, loop_count: int = 0) -> bytes:
    """An animated GIF: one solid-colour frame per entry of `colors`."""
    palette = b"".join(rgb(c) for c in (0, 0xFFFFFF)) + b"\x00" * 3 * 126  # a 128-entry global table
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF6, 0, 0) + palette)
    out += b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop_count) + b"\x00"
    comment = LABEL.encode()
    out += b"\x21\xfe" + bytes([len(comment)]) + comment + b"\x00"
    delay = max(1, round(100 / max(frame_rate, 0.01)))  # hundredths of a second
    frame_palette_padding = b"\x00" * 3 * 127
    pixels = _gif_pixels(width * height)
    for color in colors:
        out += b"\x21\xf9\x04\x04" + struct.pack("<H", delay) + b"\x00\x00"  # graphic control: no disposal
        out += b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0x86)  # a local 128-entry palette
        out += rgb(color) + frame_palette_padding + pixels
    return bytes(out + b"\x3b")


def _box(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", 8 + len(data)) + kind + data


def mp4(width: int, height: int, frames: int, frame_rate: float) -> bytes:
    """An ISO base media file (ftyp, a labelled free box, mdat) with no playable track: enough for clients that
    store and serve bytes, not for a player."""
    about = f"{LABEL}: {frames} frames of {width}x{height} at {frame_rate:g} fps".encode()
    return (_box(b"ftyp", b"isom" + struct.pack(">I", 0x200) + b"isomiso2avc1mp41") + _box(b"free", about)
            + _box(b"mdat", b"\x00" * 64 * max(1, frames)))


def wav(seconds: float, sample_rate: int = 44100, channels: int = 2) -> bytes:
    """16-bit PCM WAV of a quiet 441 Hz tone (a whole period every 100 samples at 44.1 kHz)."""
    period = max(1, sample_rate // 441)
    one = array("h", [int(3000 * math.sin(2 * math.pi * i / period)) for i in range(period) for _ in range(channels)])
    frames = max(1, round(seconds * sample_rate))
    whole, rest = divmod(frames, period)
    data = one.tobytes() * whole + one[:rest * channels].tobytes()
    fmt = struct.pack("<HHIIHH", 1, channels, sample_rate, sample_rate * channels * 2, channels * 2, 16)
    info = _riff_list(b"INFO", _riff(b"ICMT", LABEL.encode() + b"\x00"))
    body = b"WAVE" + _riff(b"fmt ", fmt) + info + _riff(b"data", data)
    return _riff(b"RIFF", body)


def _riff(kind: bytes, data: bytes) -> bytes:
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def _riff_list(kind: bytes, data: bytes) -> bytes:
    return _riff(b"LIST", kind + data)
