"""The storage layer: one interface, two backends (`file://` and `s3://` through boto3).

The S3 backend runs against moto's S3 server on a loopback port (real HTTP, real boto3 and real
presigned URLs): a whole chunked upload goes through it, and the same unit checks run on both
backends, including the refusal of keys that would climb out of their root.
"""
from __future__ import annotations

import io
import random
import uuid

import boto3
import pytest
import requests
from PIL import Image

from app.extensions import db
from app.storage import FileStorage, S3Storage, StorageError
from tests.conftest import Api, make_app, reset_database, wechat_login
from tests.media_files import GPS_IFD, GPS_MARK, complete, create_upload, jpeg_with_gps, send_chunks

REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(moto_url, monkeypatch):
    """A fresh bucket; dummy credentials in the environment, where boto3 looks for them."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    name = f"qinglang-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=moto_url, region_name=REGION)
    client.create_bucket(Bucket=name)
    return name, client


def bucket_keys(client, bucket: str, prefix: str = "") -> list[str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_a_chunked_upload_through_s3(standin, tmp_path, moto_url, s3_bucket):
    """`STORAGE_URL=s3://bucket/prefix`: chunks and media live under the prefix, the presigned
    URL serves the cleaned photo over plain HTTP, and no chunk is left in the bucket."""
    bucket, client = s3_bucket
    app = make_app(standin, tmp_path, STORAGE_URL=f"s3://{bucket}/qinglang/prod", S3_ENDPOINT_URL=moto_url,
                   S3_REGION=REGION, UPLOAD_CHUNK_SIZE=16 * 1024)
    with app.app_context():
        reset_database()
    try:
        api = Api(app.test_client())
        token = wechat_login(api, "s3_kid")["access_token"]
        photo = jpeg_with_gps() + random.Random(3).randbytes(40_000)  # trailing bytes: several chunks
        upload = create_upload(api, token, photo, "照片.jpg")
        assert upload["chunk_count"] >= 3
        send_chunks(api, token, upload, photo, [2, 0, 1, 0] + list(range(3, upload["chunk_count"])))
        chunk_keys = bucket_keys(client, bucket, f"qinglang/prod/uploads/{upload['id']}/")
        assert len(chunk_keys) == upload["chunk_count"], "chunks are stored in the bucket, under the prefix"

        response = complete(api, token, upload["id"])
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert body["url"].startswith(moto_url) and "Signature" in body["url"]
        fetched = requests.get(body["url"], timeout=10)
        assert fetched.status_code == 200
        assert fetched.headers["Content-Type"] == "image/jpeg"
        stored = fetched.content
        assert len(stored) == body["media"]["bytes"]
        picture = Image.open(io.BytesIO(stored))
        assert picture.size == (80, 120) and picture.getexif().get_ifd(GPS_IFD) == {}
        assert GPS_MARK.encode() not in stored
        thumb = requests.get(body["thumb_url"], timeout=10)
        assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"
        unsigned = body["url"].split("?", 1)[0]
        assert requests.get(unsigned, timeout=10).status_code == 403, "objects are not world-readable"

        keys = bucket_keys(client, bucket)
        assert bucket_keys(client, bucket, "qinglang/prod/uploads/") == []
        assert keys and all(key.startswith("qinglang/prod/media/") for key in keys), keys
        assert len(keys) == 2  # the photo and its thumbnail
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path):
    if request.param == "file":
        return FileStorage(tmp_path / "root", "secret")
    bucket, _ = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket, "unit/prefix", endpoint_url=request.getfixturevalue("moto_url"), region=REGION)


def test_backend_operations(backend):
    """save/copy_to/exists/delete/delete_prefix/keys behave the same on both backends; a file
    larger than one 1 MB block (and than S3's 8 MB multipart part) streams through intact."""
    big = random.Random(9).randbytes(9 * 1024 * 1024 + 17)
    assert backend.save("media/a/file.bin", io.BytesIO(big), "application/octet-stream") == len(big)
    target = io.BytesIO()
    assert backend.copy_to("media/a/file.bin", target) == len(big)
    assert target.getvalue() == big

    backend.save_bytes("media/a/thumb.jpg", b"thumb")
    backend.save_bytes("media/ab/other", b"neighbour")
    backend.save_bytes("uploads/u1/000000", b"chunk")
    backend.save_bytes("uploads/u1/000000", b"CHUNK")  # a re-sent chunk replaces the first
    assert backend.read_bytes("uploads/u1/000000") == b"CHUNK"
    assert backend.exists("media/a/thumb.jpg") and not backend.exists("media/a/none")
    assert sorted(backend.keys("media/a/")) == ["media/a/file.bin", "media/a/thumb.jpg"]
    assert sorted(backend.keys("media/")) == ["media/a/file.bin", "media/a/thumb.jpg", "media/ab/other"]
    assert list(backend.keys("nothing/")) == []

    backend.delete("media/a/thumb.jpg")
    backend.delete("media/a/thumb.jpg")  # deleting twice is harmless
    assert not backend.exists("media/a/thumb.jpg")
    with pytest.raises(StorageError):
        backend.copy_to("media/a/thumb.jpg", io.BytesIO())

    assert backend.delete_prefix("media/a/") == 1
    assert sorted(backend.keys("")) == ["media/ab/other", "uploads/u1/000000"], "the neighbour survives"
    assert backend.delete_prefix("uploads/") == 1
    assert list(backend.keys("uploads/")) == []


BAD_KEYS = ["../escape", "media/../../escape", "/etc/passwd", "media//x", "media/./x", "", "media/.."]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_keys_that_could_escape_are_refused(backend, tmp_path, key):
    """A key comes from code, but a bug (or a filename leaking into one) must never read, write,
    list or delete outside the storage root."""
    outside = tmp_path / "escape"
    outside.write_bytes(b"not yours")
    backend.save_bytes("media/x", b"inside")
    operations = [
        lambda: backend.save_bytes(key, b"x"),
        lambda: backend.copy_to(key, io.BytesIO()),
        lambda: backend.exists(key),
        lambda: backend.delete(key),
    ]
    if key:  # "" is a valid listing prefix (everything), but never a key
        operations += [lambda: list(backend.keys(key + "/")), lambda: backend.delete_prefix(key + "/")]
    else:
        operations += [lambda: backend.delete_prefix("")]  # wiping the whole store is never meant
    for operation in operations:
        with pytest.raises(StorageError):
            operation()
    assert outside.read_bytes() == b"not yours"
    assert backend.read_bytes("media/x") == b"inside"
