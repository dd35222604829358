"""Real media files made in code for the upload tests, and the client side of the upload protocol.

Nothing binary is committed: every photo, bomb and video below is built on the fly with Pillow,
pillow-heif, zlib and PyAV, with properties the tests can check afterwards (a GPS tag carrying
`GPS_MARK`, an orientation that swaps width and height, a two-tone picture whose halves show
which way it was turned, a video of a known duration with a location tag).
"""
from __future__ import annotations

import hashlib
import io
import random
import struct
import tempfile
import zlib
from fractions import Fraction
from pathlib import Path

from PIL import Image, PngImagePlugin

GPS_MARK = "QINGLANG-GPS-MARK"  # stored as GPSMapDatum; must never reach storage
LOCATION = "+39.9042+116.4074/"  # ISO 6709, as phones write it into MOV/MP4 `©xyz`
RED, BLUE = (220, 30, 30), (30, 30, 220)
ORIENTATION = 0x0112
GPS_IFD = 0x8825


# --- images -------------------------------------------------------------------------------------

def gps_exif(orientation: int = 6) -> Image.Exif:
    """EXIF as a phone writes it: orientation 6 (turn 90° clockwise to view) and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "QinglangPhone"
    exif[GPS_IFD] = {1: "N", 2: (39.0, 54.0, 15.0), 3: "E", 4: (116.0, 24.0, 27.0), 0x12: GPS_MARK}
    return exif


def two_tone(width: int = 120, height: int = 80, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: after orientation 6 is applied red is on top, blue below.
    In RGBA it is slightly see-through (an opaque alpha channel would be dropped by encoders)."""
    alpha = (250,) if mode == "RGBA" else ()
    image = Image.new(mode, (width, height), RED + alpha)
    image.paste(BLUE + alpha, (width // 2, 0, width, height))
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def jpeg_with_gps() -> bytes:
    return encode(two_tone(), "JPEG", quality=95, exif=gps_exif())


def png_with_metadata() -> bytes:
    """A PNG with an eXIf chunk (GPS) and tEXt/iTXt chunks repeating the position."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Location", GPS_MARK)
    info.add_itxt("Comment", GPS_MARK, zip=True)
    return encode(two_tone(), "PNG", exif=gps_exif(), pnginfo=info)


def webp_with_gps(mode: str = "RGB") -> bytes:
    return encode(two_tone(mode=mode), "WEBP", exif=gps_exif(), lossless=mode == "RGBA")


def heic_with_gps() -> bytes:
    """An iPhone-style HEIC with the same EXIF (pillow-heif writes it)."""
    import pillow_heif

    buffer = io.BytesIO()
    pillow_heif.from_pillow(two_tone()).save(buffer, quality=90, exif=gps_exif().tobytes())
    return buffer.getvalue()


def animated_gif(frames: int = 3) -> bytes:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    images = [Image.new("RGB", (40, 30), colours[i % len(colours)]) for i in range(frames)]
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=100, loop=0,
                  comment=GPS_MARK)


def small_png(width: int = 60, height: int = 20) -> bytes:
    """A handwriting-like PNG: black strokes on transparency."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for x in range(5, width - 5):
        image.putpixel((x, height // 2 + (x % 5) - 2), (0, 0, 0, 255))
    return encode(image, "PNG")


def noisy_jpeg(width: int = 320, height: int = 240, seed: int = 1) -> bytes:
    """Random pixels compress badly, so the entropy-coded data fills most of the file."""
    noise = random.Random(seed).randbytes(width * height * 3)
    return encode(Image.frombytes("RGB", (width, height), noise), "JPEG", quality=90)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG of `width`×`height` zero pixels: huge when decoded, tiny on disk.
    Written by hand (row by row through zlib), so making it never allocates the picture."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


HTML = "<!DOCTYPE html>\n<html><head><title>x</title></head><body><script>alert(1)</script></body></html>\n"


def html_page() -> bytes:
    return HTML.encode()


# --- video --------------------------------------------------------------------------------------

def make_video(seconds: int = 200, fps: int = 1, size: tuple[int, int] = (64, 48), *, video: bool = True,
               audio: bool = True, fmt: str = "mp4", vcodec: str = "libx264", acodec: str = "aac",
               location: str | None = LOCATION, noise: bool = True, faststart: bool = False) -> bytes:
    """A clip of exactly `seconds` seconds (video frames at `fps`, silent audio alongside).
    Noisy frames make the file big enough to need several chunks; `location` is written as the
    container's location tag, as phones do."""
    import av

    width, height = size
    rng = random.Random(seconds)
    options = {"movflags": "faststart"} if faststart else {}
    workdir = tempfile.TemporaryDirectory(prefix="qinglang-video-")  # faststart rewrites the file
    target = Path(workdir.name) / f"clip.{fmt}"
    output = av.open(str(target), "w", format=fmt, options=options)
    if location:
        output.metadata["location"] = location
    streams = []
    if video:
        vstream = output.add_stream(vcodec, rate=fps)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "rgb24" if vcodec == "png" else "yuv420p"
        streams.append(vstream)
    if audio:
        rate = 48000 if acodec in ("libopus", "opus") else 8000
        astream = output.add_stream(acodec, rate=rate)
        astream.layout = "mono"
        samples = 960 if rate == 48000 else 1024
        sample_format = astream.codec_context.format.name
        streams.append(astream)
        next_sample = 0
    for second in range(seconds):  # interleaved, one second at a time
        if video:
            for i in range(second * fps, (second + 1) * fps):
                if noise:
                    picture = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
                else:
                    picture = Image.new("RGB", size, ((i * 7) % 255, 100, 50))
                frame = av.VideoFrame.from_image(picture)
                frame.pts, frame.time_base = i, Fraction(1, fps)
                output.mux(vstream.encode(frame))
        if audio:
            while next_sample < (second + 1) * rate:
                frame = av.AudioFrame(format=sample_format, layout="mono", samples=samples)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate, frame.pts, frame.time_base = rate, next_sample, Fraction(1, rate)
                output.mux(astream.encode(frame))
                next_sample += samples
    for stream in streams:
        output.mux(stream.encode())
    output.close()
    with workdir:
        return target.read_bytes()


def can_encode(*codecs: str) -> bool:
    import av

    return all(codec in av.codecs_available for codec in codecs)


# --- the client side of the upload protocol -----------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunks_of(data: bytes, chunk_size: int) -> list[bytes]:
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def create_upload(api, token, data: bytes, filename: str = "file.bin", checksum: bool = True) -> dict:
    body = {"filename": filename, "size": len(data)}
    if checksum:
        body["sha256"] = sha256(data)
    response = api.as_(token).post("/uploads", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def put_chunk(api, token, upload_id: str, index: int, chunk: bytes):
    return api.as_(token).put(f"/uploads/{upload_id}/chunks/{index}", data=chunk,
                              content_type="application/octet-stream")


def send_chunks(api, token, upload: dict, data: bytes, order=None) -> None:
    """Send every chunk (in `order` when given: indexes, repeats allowed) and expect 200s."""
    pieces = chunks_of(data, upload["chunk_size"])
    for index in (range(len(pieces)) if order is None else order):
        response = put_chunk(api, token, upload["id"], index, pieces[index])
        assert response.status_code == 200, response.get_json()


def complete(api, token, upload_id: str):
    return api.as_(token).post(f"/uploads/{upload_id}/complete")


def upload_file(api, token, data: bytes, filename: str = "file.bin", order=None):
    """The whole chunked protocol; returns the answer of `complete`."""
    upload = create_upload(api, token, data, filename)
    send_chunks(api, token, upload, data, order)
    return complete(api, token, upload["id"])


def fetch(client, url: str) -> bytes:
    """A signed URL from an answer, fetched with the test client and no login."""
    path = url.removeprefix("http://localhost")
    assert path.startswith("/"), url
    response = client.get(path)
    assert response.status_code == 200, (response.status_code, response.get_data()[:300])
    return response.get_data()
