"""Checking uploads by their bytes: photos are re-encoded without EXIF (no GPS position of a child
is ever stored) and upright; videos are read by PyAV and remuxed without location tags; fakes,
bombs and broken files are refused with a Chinese reason; pictures go through WeChat content
security and the verdict pushed back marks the media (risky ones held for review, not lost).
"""
from __future__ import annotations

import hashlib
import io
import socket
import time

import av
import pytest
from flask_jwt_extended import create_access_token
from PIL import Image
from sqlalchemy import select

from app.auth.models import User
from app.extensions import db, storage
from app.media.models import Media
from app.media.services import check_text
from app.wechat.standin import StandInServer
from tests.conftest import assert_error, make_app, reset_database, wechat_login
from tests.media_files import (
    BLUE,
    GPS_IFD,
    GPS_MARK,
    RED,
    animated_gif,
    can_encode,
    complete,
    create_upload,
    encode,
    fetch,
    heic_with_gps,
    html_page,
    jpeg_with_gps,
    make_video,
    noisy_jpeg,
    png_bomb,
    png_with_metadata,
    send_chunks,
    two_tone,
    upload_file,
    webp_with_gps,
)

CHUNK = 64 * 1024


@pytest.fixture
def app(fresh_app):
    """The conftest app with 64 KB chunks, so real files need several chunks and stay quick."""
    return fresh_app(UPLOAD_CHUNK_SIZE=CHUNK)


def near(pixel, colour, tolerance=40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def png_chunk_types(data: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(data):
        length = int.from_bytes(data[offset:offset + 4], "big")
        types.append(data[offset + 4:offset + 8])
        offset += 12 + length
    return types


# --- photos ------------------------------------------------------------------------------------

PHOTOS = {
    # name: (maker, filename, stored mime, stored Pillow format)
    "jpeg": (jpeg_with_gps, "IMG_0001.JPG", "image/jpeg", "JPEG"),
    "jpeg_with_html_tail": (lambda: jpeg_with_gps() + html_page(), "IMG_0002.jpg", "image/jpeg", "JPEG"),
    "png": (png_with_metadata, "截图.png", "image/png", "PNG"),
    "webp": (webp_with_gps, "photo.webp", "image/jpeg", "JPEG"),
    "webp_transparent": (lambda: webp_with_gps("RGBA"), "sticker.webp", "image/webp", "WEBP"),
    "heic": (heic_with_gps, "IMG_0003.HEIC", "image/jpeg", "JPEG"),
}


@pytest.mark.parametrize("name", list(PHOTOS))
def test_photos_are_stored_upright_without_exif_or_gps(app, api, client, world, name):
    """A phone photo carries the child's GPS position and an orientation tag: the stored file
    has neither (no EXIF, no text chunks, nothing appended), but is turned the right way up,
    and a JPEG thumbnail exists for galleries and the review queue."""
    maker, filename, mime, fmt = PHOTOS[name]
    original = maker()
    assert GPS_MARK.encode() in original
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD), "the test photo carries GPS"

    response = upload_file(api, world.s_a1, original, filename)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    media = body["media"]
    assert (media["kind"], media["mime"]) == ("image", mime)
    assert (media["width"], media["height"]) == (80, 120), "orientation 6 applied: width and height swapped"

    stored = fetch(client, body["url"])
    assert media["bytes"] == len(stored)
    assert hashlib.sha256(stored).hexdigest() != hashlib.sha256(original).hexdigest()
    picture = Image.open(io.BytesIO(stored))
    assert picture.format == fmt and picture.size == (80, 120)
    exif = picture.getexif()
    assert exif.get_ifd(GPS_IFD) == {} and len(exif) == 0
    assert GPS_MARK.encode() not in stored and b"Exif\x00\x00" not in stored
    assert b"<script" not in stored
    if fmt == "PNG":
        assert not {b"eXIf", b"tEXt", b"iTXt", b"zTXt"} & set(png_chunk_types(stored))
    assert not {"exif", "xmp", "Location", "Comment"} & set(picture.info)
    rgb = picture.convert("RGB")
    assert near(rgb.getpixel((40, 10)), RED) and near(rgb.getpixel((40, 110)), BLUE), "turned clockwise"

    thumb = Image.open(io.BytesIO(fetch(client, body["thumb_url"])))
    assert thumb.format == "JPEG" and thumb.size == (80, 120)
    assert near(thumb.getpixel((40, 10)), RED)


@pytest.mark.parametrize(
    ("fmt", "exif"),
    [("PNG", b"Exif\x00\x00II*\x00"), ("PNG", b"Exif\x00\x00" + b"\xff" * 50), ("WEBP", b"Exif\x00\x00II*\x00"),
     ("JPEG", b"Exif\x00\x00" + b"\xff" * 50)],
    ids=["png-short", "png-garbage", "webp-short", "jpeg-garbage"],
)
def test_a_photo_with_a_damaged_exif_block_is_kept_as_it_is(api, client, world, fmt, exif):
    """The orientation cannot be read from a broken EXIF block (an editor's bug); the picture
    itself is fine, so it is stored unturned and, as always, without the block."""
    original = encode(two_tone(), fmt, exif=exif)
    response = upload_file(api, world.s_a1, original, f"drawing.{fmt.lower()}")
    assert response.status_code == 200, response.get_json()
    media = response.get_json()["media"]
    assert (media["width"], media["height"]) == (120, 80)
    stored = fetch(client, response.get_json()["url"])
    assert b"Exif\x00\x00" not in stored and Image.open(io.BytesIO(stored)).size == (120, 80)


def test_big_photo_gets_a_small_thumbnail(app, api, client, world):
    """Galleries load thumbnails, not 12-megapixel originals; the original keeps its size."""
    body = upload_file(api, world.s_a1, noisy_jpeg(1200, 900), "big.jpg").get_json()
    assert (body["media"]["width"], body["media"]["height"]) == (1200, 900)
    thumb = Image.open(io.BytesIO(fetch(client, body["thumb_url"])))
    assert thumb.format == "JPEG" and thumb.size == (480, 360)


def test_animated_gif_keeps_its_frames_but_not_its_comment(app, api, client, world):
    """Comics are often animated GIFs: every frame and the timing survive; comments do not."""
    body = upload_file(api, world.s_a1, animated_gif(3), "漫画.gif").get_json()
    assert body["media"]["mime"] == "image/gif"
    stored = fetch(client, body["url"])
    gif = Image.open(io.BytesIO(stored))
    assert gif.format == "GIF" and gif.n_frames == 3 and gif.info.get("duration") == 100
    colours = []
    for index in range(3):
        gif.seek(index)
        colours.append(gif.convert("RGB").getpixel((5, 5)))
    assert colours == [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    assert GPS_MARK.encode() not in stored
    assert Image.open(io.BytesIO(fetch(client, body["thumb_url"]))).format == "JPEG"


# --- videos ------------------------------------------------------------------------------------

VIDEOS = {
    "mov_with_location": (lambda: make_video(4, fmt="mov"), "IMG_0004.MOV", "video/mp4", 4, ("h264", "aac"), True),
    "webm": (lambda: make_video(4, fmt="webm", vcodec="libvpx", acodec="libopus", location=None), "clip.webm",
             "video/webm", 4, ("vp8", "opus"), can_encode("libvpx", "libopus")),
    "mp4_without_audio": (lambda: make_video(4, audio=False), "silent.mp4", "video/mp4", 4, ("h264",), True),
}


@pytest.mark.parametrize("name", list(VIDEOS))
def test_videos_are_read_and_remuxed_without_location(app, api, client, world, name):
    """iPhones send MOV with a location tag, Android browsers WebM: both are accepted with their
    duration, stored in a fresh container (no location), with a JPEG poster."""
    maker, filename, mime, seconds, codecs, available = VIDEOS[name]
    if not available:
        pytest.skip("this FFmpeg build cannot encode the test clip")
    original = maker()
    response = upload_file(api, world.s_a1, original, filename)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["media"]["kind"], body["media"]["mime"]) == ("video", mime)
    assert abs(body["media"]["duration_s"] - seconds) <= 0.5

    stored = fetch(client, body["url"])
    container = av.open(io.BytesIO(stored))
    try:
        assert tuple(s.codec_context.name for s in container.streams) == codecs
        assert abs(container.duration / 1_000_000 - seconds) <= 0.5
        assert not [k for k in container.metadata if k.lower().startswith("location")]
    finally:
        container.close()
    assert b"+39.9042" not in stored
    assert Image.open(io.BytesIO(fetch(client, body["thumb_url"]))).format == "JPEG"


# --- refusals ----------------------------------------------------------------------------------

def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


REFUSALS = {
    # name: (maker, filename, code)
    "html_named_jpg": (lambda: html_page() * 50, "photo.jpg", "unsupported_type"),
    "html_named_mp4": (lambda: html_page() * 50, "clip.mp4", "unsupported_type"),
    "plain_text": (lambda: "我的作文：争做中国好网民。\n".encode() * 200, "essay.png", "unsupported_type"),
    "svg_script": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                   "pic.svg", "unsupported_type"),
    "audio_only_mp4": (lambda: make_video(5, video=False), "song.mp4", "unsupported_type"),
    "png_codec_in_mov": (lambda: make_video(2, vcodec="png", fmt="mov", audio=False, noise=False), "a.mov",
                         "unsupported_type"),
    "truncated_jpeg": (lambda: _half(noisy_jpeg(640, 480)), "half.jpg", "corrupt_file"),
    "truncated_png": (lambda: _half(_noisy_png()), "half.png", "corrupt_file"),
    "jpeg_magic_then_garbage": (lambda: b"\xff\xd8\xff\xe0" + html_page() * 20, "fake.jpg", "corrupt_file"),
    "truncated_mp4": (lambda: _half(make_video(200)), "half.mp4", "corrupt_file"),
    "truncated_mp4_faststart": (lambda: _half(make_video(200, faststart=True)), "half2.mp4", "corrupt_file"),
    "png_bomb_30000x30000": (lambda: png_bomb(30000, 30000), "bomb.png", "image_too_large"),
    "png_over_pixel_cap": (lambda: png_bomb(8000, 8000), "huge.png", "image_too_large"),  # 64 Mpx > 50 Mpx
    "png_too_wide": (lambda: png_bomb(25000, 2), "wide.png", "image_too_large"),
    # FFmpeg does not know the codec: no codec context at all (was a 500, the upload left claimed).
    "mp4_unknown_codec": (lambda: make_video(5, audio=False).replace(b"avc1", b"zzzz"), "odd.mp4",
                          "unsupported_type"),
}


def _gif_frames(count: int, size: tuple[int, int]) -> bytes:
    frames = [Image.new("P", size, index) for index in range(count)]  # each its own colour: not merged
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def _noisy_png() -> bytes:
    import random

    picture = Image.frombytes("RGB", (300, 300), random.Random(5).randbytes(300 * 300 * 3))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", list(REFUSALS))
def test_fakes_bombs_and_broken_files_are_refused(app, api, world, name):
    """Judged by the bytes, never by the name: 422 with the machine reason and a Chinese message;
    the upload stays failed (completing again answers the same) and its chunks are deleted."""
    maker, filename, code = REFUSALS[name]
    data = maker()
    upload = create_upload(api, world.s_a1, data, filename)
    send_chunks(api, world.s_a1, upload, data)
    first = assert_error(complete(api, world.s_a1, upload["id"]), 422, code)
    assert assert_error(complete(api, world.s_a1, upload["id"]), 422, code)["code"] == first["code"]
    with app.app_context():
        assert list(storage.backend.keys("uploads/")) == []
        assert list(storage.backend.keys("media/")) == []
        assert db.session.query(Media).count() == 0


# --- WeChat content security -------------------------------------------------------------------

def pushed_verdict(standin, trace_id: str) -> dict:
    """The signed push the stand-in recorded for this check, as WeChat would deliver it."""
    import requests

    pushes = requests.get(f"{standin.base_url}_standin/pushes", timeout=5).json()
    matching = [p for p in pushes if p["body"]["trace_id"] == trace_id]
    assert len(matching) == 1, f"no push for trace {trace_id}"
    return matching[0]


def trace_of(app, media_id: str) -> str | None:
    with app.app_context():
        return db.session.get(Media, media_id).moderation_trace_id


@pytest.mark.parametrize("label, verdict", [("calm_kid", "pass"), ("risky_kid", "review")])
def test_image_verdict_arrives_by_push_and_marks_the_media(app, api, client, standin, label, verdict):
    """The picture is sent to media_check_async; until WeChat pushes its verdict it is pending.
    A forged push changes nothing; the real one marks it pass, or review (held for a person,
    still there and downloadable by its owner)."""
    token = wechat_login(api, label)["access_token"]
    body = upload_file(api, token, jpeg_with_gps(), "a.jpg").get_json()
    media_id = body["media"]["id"]
    assert body["media"]["moderation"] == "pending"
    trace_id = trace_of(app, media_id)
    assert trace_id
    push = pushed_verdict(standin, trace_id)

    for forged in ({**push["query"], "signature": "0" * 40}, {**push["query"], "nonce": "other"}, {}):
        response = api.post("/wechat/push", query_string=forged, json=push["body"])
        assert_error(response, 403, "invalid_signature")
    assert api.as_(token).get(f"/media/{media_id}").get_json()["media"]["moderation"] == "pending"

    response = api.post("/wechat/push", query_string=push["query"], json=push["body"])
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    mine = api.as_(token).get(f"/media/{media_id}")
    assert mine.status_code == 200
    assert mine.get_json()["media"]["moderation"] == verdict
    stored = Image.open(io.BytesIO(fetch(client, mine.get_json()["url"])))
    assert stored.size == (80, 120)


def test_push_for_an_unknown_trace_is_acknowledged_and_ignored(app, api, standin, world):
    """WeChat retries until it hears "success"; a verdict about nothing of ours must not fail."""
    from app.wechat.standin import signed_push_query

    query = signed_push_query(app.config["WECHAT_PUSH_TOKEN"])
    event = {"Event": "wxa_media_check", "trace_id": "not-ours", "result": {"suggest": "risky"}}
    response = api.post("/wechat/push", query_string=query, json=event)
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"


def test_push_url_verification_echoes_only_with_the_right_signature(app, api):
    """WeChat checks the push URL once by GET: echo `echostr` when signed with our push token.
    A correctly signed but old timestamp is refused too: the signature does not cover the body,
    so a replayed push URL must not be accepted later with another body."""
    token = app.config["WECHAT_PUSH_TOKEN"]

    def signed(timestamp: str) -> dict:
        signature = hashlib.sha1("".join(sorted([token, timestamp, "n0nce"])).encode()).hexdigest()  # noqa: S324
        return {"signature": signature, "timestamp": timestamp, "nonce": "n0nce", "echostr": "abc"}

    good = signed(str(int(time.time())))
    response = api.get("/wechat/push", query_string=good)
    assert response.status_code == 200 and response.get_data(as_text=True) == "abc"
    stale = signed(str(int(time.time()) - 3600))
    for bad in ({**good, "signature": good["signature"][::-1]}, {**good, "timestamp": str(int(good["timestamp"]) + 1)},
                {"echostr": "abc"}, stale):
        assert_error(api.get("/wechat/push", query_string=bad), 403, "invalid_signature")
    # Timestamps int() would read but WeChat never sends (one too large to compare with the clock
    # was a 422 "invalid value" from the database error handler), each signed correctly.
    for odd in (" " + good["timestamp"], good["timestamp"][:5] + "_" + good["timestamp"][5:], "9" * 4000):
        assert_error(api.get("/wechat/push", query_string=signed(odd)), 403, "invalid_signature")


@pytest.mark.parametrize(
    "body",
    ["[1, 2]", '"text"', "5", "[" * 50_000 + "]" * 50_000,
     '{"Event": "wxa_media_check", "trace_id": "t", "result": [1]}',
     '{"Event": "wxa_media_check", "trace_id": "\\ud800", "result": {"suggest": "pass"}}',
     '{"Event": "wxa_media_check", "trace_id": ["x"], "result": {"suggest": "pass"}}'],
    ids=["array", "string", "number", "nested-50000", "result-not-object", "half-emoji-trace", "trace-not-text"],
)
def test_signed_pushes_of_another_shape_are_acknowledged_and_change_nothing(app, api, standin, world, body):
    """Only the holder of the push token gets this far; still, a body of any shape answers
    "success" (so WeChat stops retrying) instead of a 500, and no media changes."""
    from app.wechat.standin import signed_push_query

    media_id = upload_file(api, world.s_a1, noisy_jpeg(), "a.jpg").get_json()["media"]["id"]
    with app.app_context():
        before = db.session.get(Media, media_id).moderation
    response = api.post("/wechat/push", query_string=signed_push_query(app.config["WECHAT_PUSH_TOKEN"]),
                        data=body, content_type="application/json")
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    with app.app_context():
        assert db.session.get(Media, media_id).moderation == before


def test_check_text_uses_msg_sec_check(app, world):
    """Essays and slogans go through msg_sec_check v2: a blocked word → review, else pass;
    without content security configured nothing is sent."""
    with app.app_context():
        student = db.session.get(User, world.s_a1.id)
        assert check_text(student, "我参加了赌博") == "review"
        assert check_text(student, "争做中国好网民，文明上网") == "pass"
        assert check_text(student, "   ") == "unchecked"
        app.config["CONTENT_SECURITY"] = False
        assert check_text(student, "我参加了赌博") == "unchecked"


def test_media_whose_check_could_not_be_sent_is_asked_again(standin, tmp_path):
    """When WeChat is unreachable the upload still succeeds and the media stays pending;
    `flask media recheck` (cron) asks again once WeChat is back, and the verdict then lands."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = make_app(standin, tmp_path, UPLOAD_CHUNK_SIZE=CHUNK, WECHAT_API_BASE_URL=f"http://127.0.0.1:{port}/")
    server = None
    try:
        with app.app_context():
            reset_database()
            user = User(openid="test_offline_kid")
            db.session.add(user)
            db.session.commit()
            token = create_access_token(identity=str(user.id))
        from tests.conftest import Api

        api = Api(app.test_client())
        response = upload_file(api, token, jpeg_with_gps(), "a.jpg")
        assert response.status_code == 200, response.get_json()
        media_id = response.get_json()["media"]["id"]
        assert response.get_json()["media"]["moderation"] == "pending"
        assert trace_of(app, media_id) is None

        server = StandInServer(port=port).start()  # WeChat is back
        result = app.test_cli_runner().invoke(args=["media", "recheck"])
        assert result.exit_code == 0, result.output
        trace_id = trace_of(app, media_id)
        assert trace_id, result.output
        push = pushed_verdict(server, trace_id)
        assert api.post("/wechat/push", query_string=push["query"], json=push["body"]).status_code == 200
        assert api.as_(token).get(f"/media/{media_id}").get_json()["media"]["moderation"] == "pass"
        again = app.test_cli_runner().invoke(args=["media", "recheck"])
        assert again.exit_code == 0
        with app.app_context():
            assert db.session.scalar(select(Media.moderation_trace_id).where(Media.id == media_id)) == trace_id
    finally:
        if server is not None:
            server.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()



def test_an_animated_gif_may_hold_a_few_pictures_worth_of_frames_and_no_more(fresh_app, api):
    """Every frame of an animated GIF is decoded and saved again, so its frames together are
    capped at four times MEDIA_MAX_PIXELS (20 frames of 7000² in one colour, 738 KB, took
    51 s): a real animation above the one-picture cap passes, a frame bomb does not."""
    app = fresh_app(MEDIA_MAX_PIXELS=1_000_000)
    client_api = type(api)(app.test_client())
    token = wechat_login(client_api, "gif_kid")["access_token"]
    frames = _gif_frames(3, (800, 600))  # 1.44 Mpx in all, each frame 0.48
    response = upload_file(client_api, token, frames, "wave.gif")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["media"]["mime"] == "image/gif"
    assert_error(upload_file(client_api, token, _gif_frames(10, (800, 600)), "bomb.gif"), 422, "image_too_large")


def test_video_above_the_pixel_cap_is_refused_before_decoding(fresh_app, api):
    """A video's resolution is checked against MEDIA_MAX_PIXELS before a frame is decoded."""
    app = fresh_app(MEDIA_MAX_PIXELS=1000)  # the 64x48 clip has 3072 pixels
    client_api = type(api)(app.test_client())
    token = wechat_login(client_api, "film_kid")["access_token"]
    response = upload_file(client_api, token, make_video(seconds=3), "clip.mp4")
    assert_error(response, 422, "video_too_large")
