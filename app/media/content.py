"""Checking files by their bytes, never by name or the client's content type.

Images go through Pillow (HEIC through pillow-heif): the real format is read from the data,
the pixel count is capped before decoding (decompression bombs), the whole image is decoded
(truncated or corrupt files fail here), and the picture is re-encoded with orientation applied
and every metadata block dropped, so a child's GPS location is never stored.

Videos go through PyAV: the container must hold a decodable video stream; duration, codecs
and size are read; the first frame becomes the poster; the streams are remuxed (no re-encode)
into a fresh container, which drops container metadata such as a phone's location tag and
proves every packet can be read.
"""
from __future__ import annotations

import logging
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import filetype
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from app.errors import ApiError

log = logging.getLogger(__name__)

try:  # HEIC/HEIF photos from iPhones
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is in requirements
    pass

IMAGE_MIMES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/heic", "image/heif", "image/avif"}
VIDEO_MIMES = {"video/mp4", "video/quicktime", "video/x-m4v", "video/webm", "video/x-matroska", "video/3gpp"}
PILLOW_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
                  "HEIF": "image/heic", "AVIF": "image/avif"}
THUMB_SIZE = (480, 480)
GIF_FRAMES_FACTOR = 4  # an animated GIF's frames together: up to this many times MEDIA_MAX_PIXELS

REASONS = {
    "unsupported_type": "不支持的文件类型，请上传 JPG、PNG、WebP、GIF、HEIC 图片或 MP4、MOV 视频",
    "corrupt_file": "文件已损坏或不完整，请重新选择文件后上传",
    "image_too_large": "图片像素过大，请缩小或压缩后再上传",
    "video_unplayable": "视频无法播放，请换一个视频或重新录制",
    "video_too_large": "视频分辨率过高，请以 4K 或更低分辨率重新导出",
    # Found while assembling; kept here too, because completing a failed upload again answers
    # with the stored failure code alone.
    "size_mismatch": "文件大小与声明不一致，请重新上传",
    "checksum_mismatch": "文件校验失败，请重新上传",
}


class MediaRejected(ApiError):
    status = 422

    def __init__(self, code: str, message: str | None = None):
        super().__init__(code, message or REASONS[code])


@dataclass
class Processed:
    kind: str  # image | video
    mime: str
    extension: str
    path: Path  # the cleaned file to store
    thumb_path: Path | None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    video_codec: str | None = None
    audio_codec: str | None = None


def sniff(path: Path) -> str:
    """The real type from the magic bytes."""
    with open(path, "rb") as f:
        head = f.read(8192)
    guess = filetype.guess(head)
    mime = guess.mime if guess else ""
    if mime in IMAGE_MIMES or mime in VIDEO_MIMES:
        return mime
    raise MediaRejected("unsupported_type")


def process(path: Path, workdir: Path, max_pixels: int) -> Processed:
    mime = sniff(path)
    if mime in IMAGE_MIMES:
        return process_image(path, workdir, max_pixels)
    return process_video(path, workdir, max_pixels)


def _open_image(path: Path, max_pixels: int) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise MediaRejected("image_too_large") from None
        except UnidentifiedImageError:
            raise MediaRejected("unsupported_type") from None
        except (OSError, SyntaxError, ValueError):
            raise MediaRejected("corrupt_file") from None
    if image.format not in PILLOW_FORMATS:
        image.close()
        raise MediaRejected("unsupported_type")
    width, height = image.size
    if width * height > max_pixels or width > 20000 or height > 20000:
        image.close()
        raise MediaRejected("image_too_large")
    return image


def process_image(path: Path, workdir: Path, max_pixels: int) -> Processed:
    image = _open_image(path, max_pixels)
    try:
        source_format = image.format
        try:
            if source_format == "GIF" and _gif_pixels(image) > GIF_FRAMES_FACTOR * max_pixels:
                # Each frame is decoded and saved again at the full canvas: 20 frames of 7000² in
                # one colour are 738 KB of GIF and took 51 s and gigabytes to clean. A few times
                # the one-picture cap leaves room for real animations (120 frames of 800×600).
                raise MediaRejected("image_too_large", "动图的帧数太多或画面太大，请缩短或缩小后再上传")
            image.load()
            if getattr(image, "n_frames", 1) > 1 and source_format == "GIF":
                for frame in ImageSequence.Iterator(image):  # every frame must decode
                    frame.load()
                image.seek(0)
        except (OSError, SyntaxError, ValueError, EOFError):
            raise MediaRejected("corrupt_file") from None

        out = workdir / "clean"
        if source_format == "GIF" and getattr(image, "n_frames", 1) > 1:
            mime, ext = "image/gif", "gif"
            image.info = {k: v for k, v in image.info.items() if k in ("duration", "loop", "transparency")}
            image.save(out, "GIF", save_all=True, optimize=False)
            upright = image.copy().convert("RGB")
        else:
            upright = _upright(image)
            upright.info = {}
            if source_format in ("PNG", "WEBP", "GIF") and upright.mode in ("RGBA", "LA", "P", "PA", "L"):
                webp = source_format == "WEBP"
                fmt, mime, ext = ("WEBP", "image/webp", "webp") if webp else ("PNG", "image/png", "png")
                upright.save(out, fmt, exif=b"", **({"lossless": True} if fmt == "WEBP" else {}))
            elif source_format == "PNG":
                mime, ext = "image/png", "png"
                upright.save(out, "PNG", exif=b"")
            else:  # JPEG, HEIC, AVIF, opaque WebP → JPEG
                mime, ext = "image/jpeg", "jpg"
                upright.convert("RGB").save(out, "JPEG", quality=90, exif=b"", optimize=True)
        width, height = upright.size
        thumb = workdir / "thumb"
        _save_thumbnail(upright, thumb)
        return Processed("image", mime, ext, out, thumb, width=width, height=height)
    finally:
        image.close()


def _gif_pixels(image: Image.Image) -> int:
    """Pixels decoded over all frames (counting frames reads their headers, not their data)."""
    width, height = image.size
    return getattr(image, "n_frames", 1) * width * height


def _upright(image: Image.Image) -> Image.Image:
    """Turned as its EXIF orientation says (then the tag is moot). A damaged EXIF block — a
    camera app's or an editor's bug — leaves the picture as it is: it is metadata, and the clean
    file is saved without it anyway."""
    try:
        return ImageOps.exif_transpose(image)
    except (SyntaxError, struct.error, OSError, ValueError, KeyError, TypeError) as error:
        log.info("unreadable EXIF ignored: %s", type(error).__name__)
        return image.copy()


def _save_thumbnail(image: Image.Image, target: Path) -> None:
    thumb = image.copy()
    thumb.thumbnail(THUMB_SIZE)
    if thumb.mode != "RGB":
        background = Image.new("RGB", thumb.size, (255, 255, 255))
        rgba = thumb.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        thumb = background
    thumb.save(target, "JPEG", quality=80)


VIDEO_CODEC_MESSAGE = "视频编码不受支持，请用手机相机重新录制或导出为 MP4"
MP4_VIDEO = {"h264", "hevc", "mpeg4", "av1", "vp9", "h263"}
MP4_AUDIO = {"aac", "mp3", "opus", "alac", "ac3", "eac3"}
WEBM_VIDEO = {"vp8", "vp9", "av1"}
WEBM_AUDIO = {"vorbis", "opus"}


def process_video(path: Path, workdir: Path, max_pixels: int) -> Processed:
    import av

    try:
        container = av.open(str(path), metadata_errors="ignore")
    except av.FFmpegError:
        raise MediaRejected("corrupt_file") from None
    try:
        if not container.streams.video:
            raise MediaRejected("unsupported_type")
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        if video.codec_context is None or (audio is not None and audio.codec_context is None):
            raise MediaRejected("unsupported_type", VIDEO_CODEC_MESSAGE)  # a codec FFmpeg does not know
        vcodec = video.codec_context.name
        if (video.codec_context.width or 0) * (video.codec_context.height or 0) > max_pixels:
            raise MediaRejected("video_too_large")  # before decoding a frame of that size
        acodec = audio.codec_context.name if audio else None
        duration = _duration(container, video)
        if not duration or duration <= 0:
            raise MediaRejected("video_unplayable")

        poster = _first_frame(container, video)
        width, height = poster.size

        is_webm = "webm" in container.format.name or "matroska" in container.format.name
        if is_webm and vcodec in WEBM_VIDEO and (acodec is None or acodec in WEBM_AUDIO):
            out_format, mime, ext = "webm", "video/webm", "webm"
        elif vcodec in MP4_VIDEO and (acodec is None or acodec in MP4_AUDIO):
            out_format, mime, ext = "mp4", "video/mp4", "mp4"
        else:
            raise MediaRejected("unsupported_type", VIDEO_CODEC_MESSAGE)

        out = workdir / f"clean.{ext}"
        last_time = _remux(container, [s for s in (video, audio) if s is not None], out, out_format)
        if last_time < duration * 0.9 - 1:
            raise MediaRejected("corrupt_file")  # the index promises more than the file holds
        thumb = workdir / "thumb"
        _save_thumbnail(poster, thumb)
        return Processed("video", mime, ext, out, thumb, width=width, height=height,
                         duration_s=round(duration, 3), video_codec=vcodec, audio_codec=acodec)
    finally:
        container.close()


def _duration(container, video) -> float | None:
    if container.duration:
        return container.duration / 1_000_000
    if video.duration and video.time_base:
        return float(video.duration * video.time_base)
    return None


def _first_frame(container, video) -> Image.Image:
    import av

    try:
        for frame in container.decode(video):
            return frame.to_image()
    except av.FFmpegError:
        raise MediaRejected("corrupt_file") from None
    raise MediaRejected("video_unplayable")


def _remux(container, streams, out: Path, out_format: str) -> float:
    """Copy the packets into a fresh container; returns the end time of the last packet (s)."""
    import av

    container.seek(0)
    last = 0.0
    try:
        with av.open(str(out), "w", format=out_format) as output:
            mapping = {s.index: output.add_stream_from_template(s) for s in streams}
            for packet in container.demux(list(streams)):
                if packet.dts is None:
                    continue
                if packet.pts is not None and packet.time_base is not None:
                    end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                    last = max(last, end)
                packet.stream = mapping[packet.stream.index]
                output.mux(packet)
    except av.FFmpegError:
        raise MediaRejected("corrupt_file") from None
    return last
