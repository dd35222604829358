"""One storage layer for every file the app keeps: chunks, photos, videos, posters.

`STORAGE_URL` picks the backend: `file:///path` (the embedded default) or `s3://bucket/prefix`
(boto3 against any S3-compatible service: Tencent COS, MinIO, AWS; `S3_ENDPOINT_URL` and
`S3_REGION` configure the endpoint, credentials come from boto3's usual sources).

Everything streams in blocks, so memory stays flat whatever the file size. Files are never
world-readable: readers get short-lived signed URLs (the file backend signs URLs to its own
download route with the app's secret; S3 presigns).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote, urlparse

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

BLOCK = 1024 * 1024


class StorageError(Exception):
    pass


class Storage:
    """What every backend offers. Keys are `/`-separated, relative, without `..`."""

    def save(self, key: str, source: BinaryIO, content_type: str = "application/octet-stream") -> int:
        raise NotImplementedError

    def save_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> int:
        import io

        return self.save(key, io.BytesIO(data), content_type)

    def copy_to(self, key: str, target: BinaryIO) -> int:
        """Stream the object into `target`; returns the byte count."""
        raise NotImplementedError

    def read_bytes(self, key: str) -> bytes:
        import io

        buffer = io.BytesIO()
        self.copy_to(key, buffer)
        return buffer.getvalue()

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise StorageError("refusing to delete every object: give a prefix")
        count = 0
        for key in list(self.keys(prefix)):
            self.delete(key)
            count += 1
        return count

    def keys(self, prefix: str) -> Iterator[str]:
        raise NotImplementedError

    def signed_url(self, key: str, expires_s: int, content_type: str | None = None,
                   filename: str | None = None) -> str:
        raise NotImplementedError


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: `""` (everything) or a valid key, optionally ending with `/`."""
    if prefix:
        check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class FileStorage(Storage):
    """Files under one directory; downloads go through the app's signed `/api/v1/files/…` route."""

    def __init__(self, root: str | Path, secret: str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._signer = URLSafeTimedSerializer(secret, salt="qinglang-file-url")

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def save(self, key, source, content_type="application/octet-stream"):
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a re-sent chunk never leaves half a file.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                size = _pump(source, out)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def copy_to(self, key, target):
        try:
            with open(self.path(key), "rb") as source:
                return _pump(source, target)
        except FileNotFoundError:
            raise StorageError(f"missing object {key}") from None

    def exists(self, key):
        return self.path(key).is_file()

    def delete(self, key):
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix):
        count = super().delete_prefix(prefix)
        directory = self.root / prefix.rstrip("/")
        if prefix.endswith("/") and directory.is_dir():
            shutil.rmtree(directory, ignore_errors=True)
        return count

    def keys(self, prefix):
        check_prefix(prefix)
        base = self.root
        start = base / prefix if prefix.endswith("/") else (base / prefix).parent
        if not start.exists():
            return
        for path in sorted(start.rglob("*")):
            if path.is_file() and not path.name.startswith(".part-"):
                key = path.relative_to(base).as_posix()
                if key.startswith(prefix):
                    yield key

    def signed_url(self, key, expires_s, content_type=None, filename=None):
        from flask import current_app, has_request_context, url_for

        token = self._signer.dumps({"k": check_key(key), "t": content_type, "n": filename, "e": expires_s})
        if has_request_context():
            return url_for("files.SignedFile", token=token)
        # CLI and jobs: the path alone (callers prefix PUBLIC_BASE_URL); url_for would need SERVER_NAME.
        return current_app.url_map.bind("localhost").build("files.SignedFile", {"token": token})

    def resolve_token(self, token: str) -> dict:
        """The key behind a signed URL, or StorageError when forged or expired."""
        from datetime import datetime

        try:
            data, signed_at = self._signer.loads(token, return_timestamp=True)
            age = (datetime.now(UTC) - signed_at).total_seconds()
            if age > int(data["e"]):
                raise SignatureExpired("expired")
            check_key(data["k"])
        except SignatureExpired:
            raise StorageError("expired") from None
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):  # a payload of another shape
            raise StorageError("invalid") from None
        return data


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, region: str | None = None):
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path" if endpoint_url else "auto"},
                          retries={"max_attempts": 3}),
        )
        # Bounded memory: at most a few 8 MB parts in flight.
        self.transfer = TransferConfig(multipart_chunksize=8 * BLOCK, max_concurrency=2, io_chunksize=BLOCK)

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def save(self, key, source, content_type="application/octet-stream"):
        counter = _CountingReader(source)
        self.client.upload_fileobj(counter, self.bucket, self._key(key),
                                   ExtraArgs={"ContentType": content_type}, Config=self.transfer)
        return counter.count

    def copy_to(self, key, target):
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError as exc:
            raise StorageError(f"missing object {key}: {exc.response['Error'].get('Code')}") from None
        try:
            return _pump(body, target)
        finally:
            body.close()

    def exists(self, key):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys(self, prefix):
        check_prefix(prefix)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix):]

    def signed_url(self, key, expires_s, content_type=None, filename=None):
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if filename:
            params["ResponseContentDisposition"] = f"inline; filename*=UTF-8''{quote(filename)}"
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)


class _CountingReader:
    def __init__(self, source: BinaryIO):
        self.source = source
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.count += len(data)
        return data


def _pump(source: BinaryIO, target: BinaryIO) -> int:
    total = 0
    while True:
        block = source.read(BLOCK)
        if not block:
            return total
        target.write(block)
        total += len(block)


def storage_from_url(url: str, secret: str, endpoint_url: str | None = None, region: str | None = None) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStorage(parsed.path, secret)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise RuntimeError("STORAGE_URL s3://bucket/prefix needs a bucket")
        return S3Storage(parsed.netloc, parsed.path, endpoint_url=endpoint_url, region=region)
    raise RuntimeError(f"Unsupported STORAGE_URL scheme {parsed.scheme!r}: use file:// or s3://")


class StorageExtension:
    """Flask extension holding the app's storage backend."""

    def init_app(self, app) -> None:
        backend = storage_from_url(app.config["STORAGE_URL"], app.config["SECRET_KEY"],
                                   app.config.get("S3_ENDPOINT_URL"), app.config.get("S3_REGION"))
        app.extensions["storage"] = backend

    @property
    def backend(self) -> Storage:
        from flask import current_app

        return current_app.extensions["storage"]
