"""Format and pixel size read from an image's header bytes, for every layout PNG, JPEG and WebP allow."""

from __future__ import annotations

import struct

import pytest
from localcloud.fakes.openai_server import solid_png
from spoonfeeder.image_format import UNKNOWN, ImageFormat, identify


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(width: int, height: int, frame: int = 0xC0) -> bytes:
    """SOI, JFIF header, quantisation and Huffman tables (not frames), the frame header, then a scan."""
    return (b"\xff\xd8" + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
            + _segment(0xDB, bytes(65)) + _segment(0xC4, bytes(30)) + b"\xff\xff"  # a fill byte
            + _segment(frame, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + bytes(9))
            + _segment(0xDA, bytes(10)) + bytes(100) + b"\xff\xd9")


def webp(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


@pytest.mark.parametrize(("data", "expected"), [
    (solid_png(1536, 1024, (9, 8, 7)), ImageFormat("image/png", "png", 1536, 1024)),
    (solid_png(3, 5, (0, 0, 0), transparent=True), ImageFormat("image/png", "png", 3, 5)),
    (jpeg(1792, 1024), ImageFormat("image/jpeg", "jpg", 1792, 1024)),
    (jpeg(640, 480, frame=0xC2), ImageFormat("image/jpeg", "jpg", 640, 480)),  # progressive
    (webp(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 1024, 1536)),
     ImageFormat("image/webp", "webp", 1024, 1536)),
    (webp(b"VP8L", b"\x2f" + ((1023) | (767 << 14)).to_bytes(4, "little")),
     ImageFormat("image/webp", "webp", 1024, 768)),
    (webp(b"VP8X", b"\x10\x00\x00\x00" + (255).to_bytes(3, "little") + (99).to_bytes(3, "little")),
     ImageFormat("image/webp", "webp", 256, 100)),
])
def test_format_and_size_come_from_the_header(data: bytes, expected: ImageFormat) -> None:
    assert identify(data) == expected


def test_a_jpeg_without_a_frame_header_has_no_size() -> None:
    scan_first = b"\xff\xd8" + _segment(0xDA, bytes(10)) + bytes(10)
    assert identify(scan_first) == ImageFormat("image/jpeg", "jpg")
    assert identify(jpeg(10, 10)[:30]) == ImageFormat("image/jpeg", "jpg")  # cut short


@pytest.mark.parametrize("data", [b"", b"GIF89a\x01\x00\x01\x00", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WAVE"])
def test_other_bytes_are_an_unnamed_binary(data: bytes) -> None:
    assert identify(data) == UNKNOWN
