"""Writing a large object to S3 as it is produced: parts of PART_BYTES through a multipart upload (one PutObject
when it stays small), so no file is ever held whole in memory."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from spoonfeeder.data.aws import client

PART_BYTES = 8 * 1024 * 1024  # S3's minimum part is 5 MiB


class StreamedObject:
    def __init__(self, bucket: str, key: str, content_type: str) -> None:
        self.bucket, self.key, self.content_type = bucket, key, content_type
        self.s3 = client("s3")
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.bytes += len(data)
        if len(self.buffer) >= PART_BYTES:
            self._part()

    def _part(self) -> None:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=self.bucket, Key=self.key,
                                                             ContentType=self.content_type)["UploadId"]
        number = len(self.parts) + 1
        sent = self.s3.upload_part(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                                   Body=bytes(self.buffer))
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self.buffer.clear()

    def __enter__(self) -> StreamedObject:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            if self.upload_id is not None:
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            return
        if self.upload_id is None:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer),
                               ContentType=self.content_type)
            return
        if self.buffer:
            self._part()
        self.s3.complete_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                                          MultipartUpload={"Parts": self.parts})
