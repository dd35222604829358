"""Resumable chunked uploads: the protocol the mini-program speaks (create, chunks in any order,
status, complete), its refusals, the housekeeping of abandoned uploads, the one-shot direct
upload, signed download links and flat memory.

What the server does with the bytes (photos cleaned, videos read, fakes refused) is in
test_media_content.py; the S3 backend in test_storage.py.
"""
from __future__ import annotations

import gc
import hashlib
import io
import random
import time
import tracemalloc
from datetime import timedelta

import av
import pytest
from itsdangerous import URLSafeTimedSerializer
from PIL import Image
from sqlalchemy import update

from app.common.time import utcnow
from app.extensions import db, storage
from app.media.models import Media, Upload
from tests.conftest import assert_error, make_app, reset_database, wechat_login
from tests.media_files import (
    chunks_of,
    complete,
    create_upload,
    fetch,
    html_page,
    make_video,
    noisy_jpeg,
    put_chunk,
    send_chunks,
    sha256,
    small_png,
    upload_file,
)

CHUNK = 64 * 1024


@pytest.fixture
def app(fresh_app):
    """The conftest app with 64 KB chunks, so real files need several chunks and stay quick."""
    return fresh_app(UPLOAD_CHUNK_SIZE=CHUNK)


def stored_keys(app, prefix: str) -> list[str]:
    with app.app_context():
        return list(storage.backend.keys(prefix))


def media_row(app, media_id: str) -> Media:
    with app.app_context():
        media = db.session.get(Media, media_id)
        db.session.expunge(media)
        return media


# --- the happy path that the issue is judged by -----------------------------------------------

def test_200_second_mp4_in_shuffled_and_repeated_chunks_is_accepted(app, api, client, world):
    """Done-when of issue 3: phones resend chunks and the network reorders them; the server must
    still assemble the exact file, read its duration to the second and keep no phone location."""
    video = make_video(seconds=200, fps=1, size=(64, 48))
    upload = create_upload(api, world.s_a1, video, "毕业微电影.mp4")
    assert upload["chunk_size"] == CHUNK
    count = len(chunks_of(video, CHUNK))
    assert count >= 6, "the clip must need several chunks for this test to mean anything"
    order = list(range(count))
    random.Random(200).shuffle(order)
    order[1:1] = [count - 1, order[0]]  # the short last chunk early, and two chunks sent twice
    order.append(order[3])
    send_chunks(api, world.s_a1, upload, video, order)

    response = complete(api, world.s_a1, upload["id"])
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["id"] == upload["id"] and body["status"] == "ready"
    media = body["media"]
    assert media["kind"] == "video" and media["mime"] == "video/mp4"
    assert (media["width"], media["height"]) == (64, 48)
    assert abs(media["duration_s"] - 200) <= 1
    assert media["moderation"] == "pending", "the poster went to WeChat content security"

    stored = fetch(client, body["url"])
    assert media["bytes"] == len(stored)
    container = av.open(io.BytesIO(stored))
    try:
        assert abs(container.duration / 1_000_000 - 200) <= 1
        assert {s.codec_context.name for s in container.streams} == {"h264", "aac"}
        tags = dict(container.metadata)
        for stream in container.streams:
            tags.update(stream.metadata)
        assert not [k for k in tags if k.lower().startswith("location")], tags
        assert sum(1 for _ in container.decode(video=0)) == 200, "every frame survived the remux"
    finally:
        container.close()
    assert b"+39.9042" not in stored

    poster = Image.open(io.BytesIO(fetch(client, body["thumb_url"])))
    assert poster.format == "JPEG" and poster.size == (64, 48)
    assert stored_keys(app, "uploads/") == [], "a finished upload leaves no chunks behind"


# --- creating an upload ------------------------------------------------------------------------

@pytest.mark.parametrize("size", [600 * 1024 * 1024 + 1, 10**15])
def test_sizes_above_the_ceiling_are_refused_at_create(app, api, world, size):
    """A 413 before a byte is sent saves a child's mobile data; the ceiling itself is allowed."""
    response = api.as_(world.s_a1).post("/uploads", json={"filename": "big.mp4", "size": size})
    assert_error(response, 413, "file_too_large")
    with app.app_context():
        assert db.session.query(Upload).count() == 0

    at_limit = api.as_(world.s_a1).post("/uploads", json={"filename": "ok.mp4", "size": app.config["UPLOAD_MAX_BYTES"]})
    assert at_limit.status_code == 201
    assert at_limit.get_json()["chunk_count"] == -(-app.config["UPLOAD_MAX_BYTES"] // CHUNK)


@pytest.mark.parametrize("body, field", [
    ({"filename": "a.jpg", "size": 0}, "size"),
    ({"filename": "a.jpg", "size": -5}, "size"),
    ({"filename": "a.jpg", "size": "很大"}, "size"),
    ({"filename": "a.jpg", "size": 1.5}, "size"),
    ({"filename": "a.jpg"}, "size"),
    ({"size": 10}, "filename"),
    ({"filename": "", "size": 10}, "filename"),
    ({"filename": "a.jpg", "size": 10, "sha256": "abc"}, "sha256"),
    ({"filename": "a.jpg", "size": 10, "sha256": "g" * 64}, "sha256"),
])
def test_bad_create_bodies_are_422(app, api, world, body, field):
    """Each broken field is named, in Chinese, so the client can show what is wrong."""
    error = assert_error(api.as_(world.s_a1).post("/uploads", json=body), 422, "validation_error")
    assert field in error["errors"], error


# --- sending chunks ----------------------------------------------------------------------------

@pytest.mark.parametrize("index, length, code", [
    (3, CHUNK, "chunk_index_out_of_range"),  # 3 chunks: 0, 1, 2
    (99, CHUNK, "chunk_index_out_of_range"),
    (0, CHUNK - 1, "chunk_size_mismatch"),  # short
    (0, CHUNK + 1, "chunk_size_mismatch"),  # long
    (2, 100, "chunk_size_mismatch"),  # the last chunk is 1000 bytes
    (2, CHUNK, "chunk_size_mismatch"),
    (1, 0, "chunk_size_mismatch"),
])
def test_bad_chunks_are_refused_and_not_stored(app, api, world, index, length, code):
    """A chunk that cannot belong to the file must never be stored or counted as received."""
    upload = create_upload(api, world.s_a1, b"x" * (2 * CHUNK + 1000))
    assert upload["chunk_count"] == 3
    response = put_chunk(api, world.s_a1, upload["id"], index, b"y" * length)
    assert_error(response, 422, code)
    status = api.as_(world.s_a1).get(f"/uploads/{upload['id']}").get_json()
    assert status["received"] == []
    assert stored_keys(app, "uploads/") == []


def test_resume_after_interruption_then_finished_upload_is_immutable(app, api, client, world):
    """The mini-program reads `received` after a lost connection and sends only what is missing;
    completing early names the missing chunks; once ready, the upload cannot change."""
    photo = noisy_jpeg(640, 480)
    upload = create_upload(api, world.s_a1, photo, "photo.jpg")
    pieces = chunks_of(photo, CHUNK)
    assert len(pieces) >= 4
    first = [0, 2, len(pieces) - 1]
    send_chunks(api, world.s_a1, upload, photo, first)

    status = api.as_(world.s_a1).get(f"/uploads/{upload['id']}").get_json()
    assert status["status"] == "pending"
    assert status["received"] == sorted(first)
    assert status["chunk_count"] == len(pieces) and status["size"] == len(photo)

    early = assert_error(complete(api, world.s_a1, upload["id"]), 409, "upload_incomplete")
    missing = [i for i in range(len(pieces)) if i not in first]
    assert early["errors"]["missing"] == [", ".join(map(str, missing))]

    send_chunks(api, world.s_a1, upload, photo, missing)
    status = api.as_(world.s_a1).get(f"/uploads/{upload['id']}").get_json()
    assert status["received"] == list(range(len(pieces)))

    done = complete(api, world.s_a1, upload["id"])
    assert done.status_code == 200, done.get_json()
    again = complete(api, world.s_a1, upload["id"])
    assert again.status_code == 200
    assert again.get_json()["media"] == done.get_json()["media"], "completing twice answers the same media"
    with app.app_context():
        assert db.session.query(Media).count() == 1

    assert_error(put_chunk(api, world.s_a1, upload["id"], 0, pieces[0]), 409, "upload_finished")
    assert api.as_(world.s_a1).get(f"/uploads/{upload['id']}").get_json()["status"] == "ready"
    assert stored_keys(app, "uploads/") == []
    assert Image.open(io.BytesIO(fetch(client, done.get_json()["url"]))).size == (640, 480)


def test_only_the_uploader_can_touch_an_upload(app, api, client, world):
    """Upload ids travel through logs and screenshots; another person must learn nothing from one
    (404, as if it did not exist) and must not be able to slip a chunk into it."""
    photo = noisy_jpeg(320, 240)
    upload = create_upload(api, world.s_a1, photo, "mine.jpg")
    send_chunks(api, world.s_a1, upload, photo, [0])
    path = f"/uploads/{upload['id']}"

    intruder = api.as_(world.s_b1)
    assert_error(intruder.get(path), 404, "upload_not_found")
    assert_error(put_chunk(api, world.s_b1, upload["id"], 1, photo[CHUNK:2 * CHUNK]), 404, "upload_not_found")
    assert_error(put_chunk(api, world.s_b1, upload["id"], 0, b"\0" * CHUNK), 404, "upload_not_found")
    assert_error(intruder.post(f"{path}/complete"), 404, "upload_not_found")
    for unknown in ("0" * 32, "x" * 40):
        assert_error(api.as_(world.s_a1).get(f"/uploads/{unknown}"), 404, "upload_not_found")
    assert api.get(path).status_code == 401

    assert api.as_(world.s_a1).get(path).get_json()["received"] == [0]
    send_chunks(api, world.s_a1, upload, photo, range(1, upload["chunk_count"]))
    done = complete(api, world.s_a1, upload["id"])
    assert done.status_code == 200, done.get_json()
    media_id = done.get_json()["media"]["id"]  # complete checked the sha256: no foreign byte got in
    assert_error(intruder.get(f"/media/{media_id}"), 404, "media_not_found")
    assert api.as_(world.s_a1).get(f"/media/{media_id}").status_code == 200


@pytest.mark.parametrize("case", ["checksum_mismatch", "unsupported_type"])
def test_a_failed_upload_stays_failed_and_leaves_no_chunks(app, api, world, case):
    """A refused file never becomes media later: completing again gives the same 422 (not a 500),
    chunks cannot be added any more, and the chunks are deleted from storage."""
    photo = noisy_jpeg(320, 240)
    if case == "checksum_mismatch":  # the bytes changed on the way (or the client hashed another file)
        data, declared = photo, sha256(photo[:-1] + b"\0")
    else:
        data, declared = html_page() * 2000, None
    body = {"filename": "a.jpg", "size": len(data), **({"sha256": declared} if declared else {})}
    upload = api.as_(world.s_a1).post("/uploads", json=body).get_json()
    send_chunks(api, world.s_a1, upload, data)
    assert len(stored_keys(app, f"uploads/{upload['id']}/")) == upload["chunk_count"] > 1

    first = assert_error(complete(api, world.s_a1, upload["id"]), 422, case)
    second = assert_error(complete(api, world.s_a1, upload["id"]), 422, case)
    assert first == second
    assert stored_keys(app, "uploads/") == []
    status = api.as_(world.s_a1).get(f"/uploads/{upload['id']}").get_json()
    assert (status["status"], status["failure_code"]) == ("failed", case)
    assert_error(put_chunk(api, world.s_a1, upload["id"], 0, data[:CHUNK]), 409, "upload_finished")
    with app.app_context():
        assert db.session.query(Media).count() == 0


def test_an_abandoned_upload_expires_and_cleanup_removes_its_chunks(app, api, world):
    """An upload left for more than a day can never become media, and `flask media cleanup` (run
    from cron) deletes its chunks and stray chunk folders, while live uploads keep theirs."""
    data = noisy_jpeg(320, 240)
    stale = create_upload(api, world.s_a1, data)
    send_chunks(api, world.s_a1, stale, data, [0])
    live = create_upload(api, world.s_a1, data)
    send_chunks(api, world.s_a1, live, data, [0])
    with app.app_context():
        db.session.execute(update(Upload).where(Upload.id == stale["id"])
                           .values(created_at=utcnow() - timedelta(days=2)))
        db.session.commit()
        storage.backend.save_bytes("uploads/" + "f" * 32 + "/000000", b"left by a crashed worker")

    assert_error(put_chunk(api, world.s_a1, stale["id"], 1, data[CHUNK:2 * CHUNK]), 410, "upload_expired")
    assert_error(complete(api, world.s_a1, stale["id"]), 410, "upload_expired")
    assert api.as_(world.s_a1).get(f"/uploads/{stale['id']}").get_json()["status"] == "expired"

    result = app.test_cli_runner().invoke(args=["media", "cleanup"])
    assert result.exit_code == 0, result.output
    assert "Expired 1 stale upload" in result.output
    with app.app_context():
        assert db.session.get(Upload, stale["id"]).status == "expired"
        assert db.session.get(Upload, live["id"]).status == "pending"
    assert stored_keys(app, "uploads/") == [f"uploads/{live['id']}/000000"]
    assert_error(complete(api, world.s_a1, stale["id"]), 410, "upload_expired")

    send_chunks(api, world.s_a1, live, data, range(1, live["chunk_count"]))
    assert complete(api, world.s_a1, live["id"]).status_code == 200, "cleanup left the live upload whole"


# --- the one-shot upload -----------------------------------------------------------------------

def test_direct_upload_of_a_handwriting_png(app, api, client, world):
    """The signature canvas exports a small transparent PNG: one multipart POST, same checks,
    and the strokes (alpha included) come back unchanged."""
    png = small_png()
    response = api.as_(world.s_a1).post("/uploads/direct", data={"file": (io.BytesIO(png), "签名.png")},
                                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "ready"
    assert {k: body["media"][k] for k in ("kind", "mime", "width", "height")} == {
        "kind": "image", "mime": "image/png", "width": 60, "height": 20}
    stored = Image.open(io.BytesIO(fetch(client, body["url"])))
    assert stored.format == "PNG"
    assert stored.convert("RGBA").tobytes() == Image.open(io.BytesIO(png)).convert("RGBA").tobytes()
    assert api.as_(world.s_a1).get(f"/uploads/{body['id']}").get_json()["status"] == "ready"


@pytest.mark.parametrize("files, status, code", [
    ({"file": (io.BytesIO(html_page()), "sign.png")}, 422, "unsupported_type"),
    ({"file": (io.BytesIO(b""), "sign.png")}, 422, "empty_file"),
    ({"picture": (io.BytesIO(b"\x89PNG"), "sign.png")}, 422, "validation_error"),
    ({}, 422, "validation_error"),
    ({"file": (io.BytesIO(b"\0" * 5000), "big.png")}, 413, "file_too_large"),  # limit set to 4000 below
])
def test_direct_upload_refusals(app, api, world, files, status, code):
    """Fakes, empty and missing files, and files above the direct-upload limit are refused."""
    app.config["UPLOAD_DIRECT_MAX_BYTES"] = 4000
    response = api.as_(world.s_a1).post("/uploads/direct", data=files, content_type="multipart/form-data")
    assert_error(response, status, code)
    with app.app_context():
        assert db.session.query(Media).count() == 0


# --- signed links ------------------------------------------------------------------------------

def test_signed_links_serve_the_stored_bytes_and_nothing_else(app, api, client, world, monkeypatch):
    """Anyone holding a fresh link gets exactly the stored file (no login: `<image>` tags cannot
    send one), typed by the server; forged, altered and old links get nothing."""
    body = upload_file(api, world.s_a1, noisy_jpeg(200, 150), "a.jpg").get_json()
    media = media_row(app, body["media"]["id"])
    with app.app_context():
        expected = storage.backend.read_bytes(media.storage_key)

    path = body["url"].removeprefix("http://localhost")
    response = client.get(path)  # no Authorization header
    assert response.status_code == 200
    assert response.get_data() == expected
    assert hashlib.sha256(response.get_data()).hexdigest() == media.sha256
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    partial = client.get(path, headers={"Range": "bytes=10-19"})  # <video> seeks with ranges
    assert partial.status_code == 206 and partial.get_data() == expected[10:20]

    token = path.rsplit("/", 1)[1]
    prefix = path[: -len(token)]
    payload, _, signature = token.rpartition(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    foreign = URLSafeTimedSerializer("another-secret", salt="qinglang-file-url").dumps(
        {"k": media.storage_key, "t": "image/jpeg", "n": None, "e": 600})
    # Only our secret signs a key of another type; it must still be a clean "not found".
    odd_key = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="qinglang-file-url").dumps(
        {"k": 5, "t": "image/jpeg", "n": None, "e": 600})
    for bad in (payload + "." + flipped, token[:-5], foreign, "nonsense", token.replace(payload, payload[:-3]),
                odd_key):
        assert_error(client.get(prefix + bad), 404, "not_found")

    with app.test_request_context():  # a link handed out 11 minutes ago with the default 10-minute life
        backend = storage.backend
        with monkeypatch.context() as patch:
            real_time = time.time
            patch.setattr(time, "time", lambda: real_time() - 660)
            old = backend.signed_url(media.storage_key, app.config["MEDIA_URL_TTL_S"], "image/jpeg")
    assert_error(client.get(old), 403, "link_expired")

    with app.app_context():
        backend.delete(media.storage_key)
    assert_error(client.get(path), 404, "not_found")


# --- memory ------------------------------------------------------------------------------------

def test_memory_stays_flat_for_a_64_mb_upload(standin, tmp_path):
    """Chunks are streamed to storage and assembled block by block: Python's peak allocation
    while 64 MB go through PUT and complete stays far below the file size."""
    app = make_app(standin, tmp_path, UPLOAD_CHUNK_SIZE=2 * 1024 * 1024)
    with app.app_context():
        reset_database()
    try:
        from tests.conftest import Api

        api = Api(app.test_client())
        token = wechat_login(api, "big_file")["access_token"]
        chunk_size, count = 2 * 1024 * 1024, 32
        rng = random.Random(64)
        digest = hashlib.sha256()
        chunks = []
        for _ in range(count):  # kept as seeds, not bytes: the test must not hold 64 MB either
            seed = rng.getrandbits(32)
            digest.update(random.Random(seed).randbytes(chunk_size))
            chunks.append(seed)
        response = api.as_(token).post("/uploads", json={"filename": "raw.mp4", "size": chunk_size * count,
                                                          "sha256": digest.hexdigest()})
        upload = response.get_json()
        assert upload["chunk_size"] == chunk_size

        tracemalloc.start()
        try:
            for index, seed in enumerate(chunks):
                sent = put_chunk(api, token, upload["id"], index, random.Random(seed).randbytes(chunk_size))
                assert sent.status_code == 200, sent.get_json()
                # The test client keeps each request body in reference cycles until the collector
                # runs (a real worker reads a socket); collect them so only the app is measured.
                del sent
                gc.collect()
            # random bytes are no video: refused, but only after assembling and hashing all 64 MB
            assert_error(complete(api, token, upload["id"]), 422, "unsupported_type")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 20 * 1024 * 1024, f"peak {peak / 1024 / 1024:.1f} MB"
        with app.app_context():
            assert db.session.get(Upload, upload["id"]).failure_code == "unsupported_type", "checksum passed"
            assert list(storage.backend.keys("uploads/")) == []
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_chunk_lost_from_storage_is_asked_for_again(app, api, client, world):
    """If storage lost a chunk the database recorded, completing does not fail with a 500: the
    chunk is un-recorded, the answer names it, and re-sending it lets the upload finish."""
    token = world.s_a1.token
    data = noisy_jpeg(640, 480)
    upload = create_upload(api, token, data, "photo.jpg")
    send_chunks(api, token, upload, data)
    with app.app_context():
        storage.backend.delete(f"uploads/{upload['id']}/000001")
    body = assert_error(complete(api, token, upload["id"]), 409, "upload_incomplete")
    assert body["errors"]["missing"] == ["1"]
    status = api.as_(token).get(f"/uploads/{upload['id']}").get_json()
    assert status["status"] == "pending" and 1 not in status["received"]
    assert put_chunk(api, token, upload["id"], 1, chunks_of(data, upload["chunk_size"])[1]).status_code == 200
    done = complete(api, token, upload["id"])
    assert done.status_code == 200, done.get_json()
    assert done.get_json()["media"]["kind"] == "image"
