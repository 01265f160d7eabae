"""What an image's first bytes say: its format and its size in pixels, for PNG, JPEG and WebP.

Read from the headers the formats define, so a worker needs no imaging library (Pillow would cost its
cold start far more than these few lines). Bytes that are none of these stay an unnamed binary.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the size; C4 (Huffman tables), C8 (reserved) and CC (arithmetic coding)
# share the range but are not frames.
_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length follows
_JPEG_START_OF_SCAN = 0xDA


@dataclass(frozen=True)
class ImageFormat:
    content_type: str
    extension: str
    width: int | None = None
    height: int | None = None


UNKNOWN = ImageFormat("application/octet-stream", "bin")


def identify(data: bytes) -> ImageFormat:
    """The format and pixel size of an encoded image; UNKNOWN when the bytes are not PNG, JPEG or WebP."""
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return ImageFormat("image/png", "png", width, height)
    if data.startswith(b"\xff\xd8"):
        return ImageFormat("image/jpeg", "jpg", *_jpeg_size(data))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ImageFormat("image/webp", "webp", *_webp_size(data))
    return UNKNOWN


def _jpeg_size(data: bytes) -> tuple[int, int] | tuple[None, None]:
    """Walk the marker segments up to the first start-of-frame (the size is there) or the image data."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None, None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _JPEG_STANDALONE:
            at += 2
            continue
        if marker == _JPEG_START_OF_SCAN:
            return None, None
        (length,) = struct.unpack(">H", data[at + 2:at + 4])
        if marker in _JPEG_FRAMES and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None, None


def _webp_size(data: bytes) -> tuple[int, int] | tuple[None, None]:
    """The first chunk says: lossy (VP8), lossless (VP8L) or extended (VP8X, the canvas size)."""
    chunk, body = data[12:16], data[20:30]
    if chunk == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(body) >= 10:
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    return None, None
