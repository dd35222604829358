"""Uploads and media: the rules and the transactions.

The file's bytes live in storage (chunks under `uploads/<id>/`, finished media under
`media/<id>/`); the database tracks which chunks arrived and what the media are. Completing
an upload streams the chunks into a temporary file on local disk (memory stays flat), checks
size and checksum, inspects and cleans the content (`content.py`), stores the result and only
then marks the upload ready. A rejected upload is marked failed with its reason; chunks are
removed either way.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import math
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.auth.models import User
from app.common.time import utcnow
from app.common.urls import public_url
from app.errors import ApiError, NotFound, ValidationFailed
from app.extensions import db, storage
from app.media import content
from app.media.content import MediaRejected
from app.media.models import Media, Upload, UploadChunk
from app.storage import FileStorage, StorageError

log = logging.getLogger(__name__)
CLAIM_TIMEOUT = timedelta(minutes=10)
SAFE_FILENAME_DROP = '/\\\x00<>:"|?*'


class UploadGone(ApiError):
    status, code, message = 410, "upload_expired", "上传已过期，请重新选择文件上传"


class UploadFinished(ApiError):
    status, code, message = 409, "upload_finished", "该上传已完成，不能再修改"


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def clean_filename(name: str) -> str:
    name = "".join(ch for ch in name.replace("\\", "/").split("/")[-1] if ch not in SAFE_FILENAME_DROP)
    return name.strip()[:200] or "file"


def create_upload(owner: User, filename: str, size: int, sha256: str | None) -> Upload:
    config = current_app.config
    if size > config["UPLOAD_MAX_BYTES"]:
        raise ApiError("file_too_large", f"文件太大，最大可上传 {_mb(config['UPLOAD_MAX_BYTES'])}", status=413)
    chunk_size = config["UPLOAD_CHUNK_SIZE"]
    upload = Upload(
        id=uuid.uuid4().hex, owner_id=owner.id, filename=clean_filename(filename), size=size,
        sha256=sha256.lower() if sha256 else None, chunk_size=chunk_size,
        chunk_count=math.ceil(size / chunk_size),
    )
    db.session.add(upload)
    db.session.commit()
    return upload


def _stale_before():
    return utcnow() - timedelta(seconds=current_app.config["UPLOAD_STALE_AFTER_S"])


def upload_of(owner: User, upload_id: str) -> Upload:
    """The caller's upload; anybody else's is a 404, as if it did not exist."""
    upload = db.session.get(Upload, upload_id) if len(upload_id) <= 32 else None
    if upload is None or upload.owner_id != owner.id:
        raise NotFound("upload_not_found", "上传记录不存在")
    return upload


def _received(upload: Upload) -> list[int]:
    return list(db.session.scalars(
        select(UploadChunk.index).where(UploadChunk.upload_id == upload.id).order_by(UploadChunk.index)
    ))


def upload_status(owner: User, upload_id: str) -> dict:
    upload = upload_of(owner, upload_id)
    status = upload.status
    if status == "pending" and upload.created_at < _stale_before():
        status = "expired"
    return {"id": upload.id, "status": status, "size": upload.size, "chunk_size": upload.chunk_size,
            "chunk_count": upload.chunk_count, "received": _received(upload), "failure_code": upload.failure_code}


def chunk_key(upload_id: str, index: int) -> str:
    return f"uploads/{upload_id}/{index:06d}"


def expected_length(upload: Upload, index: int) -> int:
    if index == upload.chunk_count - 1:
        return upload.size - upload.chunk_size * (upload.chunk_count - 1)
    return upload.chunk_size


def _require_open(upload: Upload) -> None:
    if upload.status in ("ready", "failed", "assembling"):
        raise UploadFinished()
    if upload.status == "expired" or upload.created_at < _stale_before():
        raise UploadGone()


def put_chunk(owner: User, upload_id: str, index: int, stream, declared_length: int | None) -> dict:
    """Store one chunk. Any order; sending a chunk again replaces it with the same bytes."""
    upload = upload_of(owner, upload_id)
    _require_open(upload)
    if not 0 <= index < upload.chunk_count:
        raise ValidationFailed({"index": [f"分片序号应在 0 到 {upload.chunk_count - 1} 之间"]},
                               code="chunk_index_out_of_range")
    expected = expected_length(upload, index)
    if declared_length is not None and declared_length != expected:
        raise _wrong_length(expected, declared_length)
    data = _read_up_to(stream, expected + 1)
    if len(data) != expected:
        raise _wrong_length(expected, len(data))
    storage.backend.save_bytes(chunk_key(upload.id, index), data)
    db.session.add(UploadChunk(upload_id=upload.id, index=index, size=expected))
    try:
        db.session.commit()
    except IntegrityError:  # a re-sent chunk: already recorded
        db.session.rollback()
    count = db.session.scalar(select(func.count()).where(UploadChunk.upload_id == upload.id))
    return {"index": index, "received": count, "chunk_count": upload.chunk_count}


def _read_up_to(stream, limit: int) -> bytes:
    """Read until `limit` bytes or the end: one read() on a socket may return less."""
    parts, total = [], 0
    while total < limit:
        block = stream.read(min(limit - total, 1024 * 1024))
        if not block:
            break
        parts.append(block)
        total += len(block)
    return b"".join(parts)


def _wrong_length(expected: int, got: int) -> ValidationFailed:
    return ValidationFailed({"body": [f"分片长度应为 {expected} 字节，实际为 {got} 字节"]}, code="chunk_size_mismatch")


def complete_upload(owner: User, upload_id: str) -> dict:
    """Assemble, verify, inspect and store. Completing again answers the same result."""
    upload = upload_of(owner, upload_id)
    if upload.status == "ready":
        return ready_answer(upload)
    if upload.status == "failed":
        raise MediaRejected(upload.failure_code or "corrupt_file")
    if upload.status == "expired" or (upload.status == "pending" and upload.created_at < _stale_before()):
        raise UploadGone()
    missing = sorted(set(range(upload.chunk_count)) - set(_received(upload)))
    if missing:
        shown = ", ".join(str(i) for i in missing[:20]) + (" …" if len(missing) > 20 else "")
        raise ApiError("upload_incomplete", f"还有 {len(missing)} 个分片未上传", status=409,
                       errors={"missing": [shown]})
    _claim(upload)
    workdir = current_app.config.get("UPLOAD_WORK_DIR")
    try:
        with tempfile.TemporaryDirectory(prefix="qinglang-upload-", dir=workdir) as work:
            assembled = Path(work) / "assembled"
            size, digest = _assemble(upload, assembled)
            if size != upload.size:
                _fail(upload, "size_mismatch")
            if upload.sha256 and digest != upload.sha256:
                _fail(upload, "checksum_mismatch")
            return _finish(owner, upload, assembled, Path(work))
    except BaseException:
        db.session.rollback()
        current = db.session.get(Upload, upload.id)
        if current is not None and current.status == "assembling":
            current.status, current.claimed_at = "pending", None  # let the client try again
            db.session.commit()
        raise


def _claim(upload: Upload) -> None:
    """One completion at a time: two taps on "done" must not assemble twice."""
    now = utcnow()
    claimed = db.session.execute(
        update(Upload)
        .where(Upload.id == upload.id,
               or_(Upload.status == "pending",
                   (Upload.status == "assembling") & (Upload.claimed_at < now - CLAIM_TIMEOUT)))
        .values(status="assembling", claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if claimed.rowcount != 1:
        db.session.refresh(upload)
        raise ApiError("upload_busy", "文件正在处理中，请稍候再查看", status=409)
    db.session.refresh(upload)


class _HashingWriter:
    def __init__(self, target):
        self.target = target
        self.digest = hashlib.sha256()
        self.count = 0

    def write(self, block: bytes) -> None:
        self.digest.update(block)
        self.count += len(block)
        self.target.write(block)


def _assemble(upload: Upload, target: Path) -> tuple[int, str]:
    backend = storage.backend
    with open(target, "wb") as out:
        writer = _HashingWriter(out)
        for index in range(upload.chunk_count):
            try:
                backend.copy_to(chunk_key(upload.id, index), writer)
            except StorageError:
                # Recorded but not in storage (lost, or removed by hand): ask the client to resend it.
                log.warning("chunk %s of upload %s missing from storage", index, upload.id)
                db.session.execute(delete(UploadChunk).where(UploadChunk.upload_id == upload.id,
                                                             UploadChunk.index == index))
                db.session.commit()
                raise ApiError("upload_incomplete", "有 1 个分片需要重新上传", status=409,
                               errors={"missing": [str(index)]}) from None
    return writer.count, writer.digest.hexdigest()


def _fail(upload: Upload, code: str, message: str | None = None):
    upload.status = "failed"
    upload.failure_code = code
    upload.completed_at = utcnow()
    db.session.commit()
    storage.backend.delete_prefix(f"uploads/{upload.id}/")
    raise MediaRejected(code, message)


def _finish(owner: User, upload: Upload, source: Path, work: Path) -> dict:
    try:
        processed = content.process(source, work, current_app.config["MEDIA_MAX_PIXELS"])
    except MediaRejected as rejected:
        _fail(upload, rejected.code, rejected.message)
    except Exception as error:  # noqa: BLE001 - the decoders met a file in a way content.py did not foresee
        if _server_side(error):
            raise  # a full disk or no memory is ours: the upload stays retriable (its chunks kept)
        # Logged for engineers (no file content in it); for the person it is a file we cannot
        # read, and the upload is failed for good rather than left `assembling` or retried into
        # the same error.
        log.warning("processing upload %s failed unexpectedly", upload.id, exc_info=True)
        _fail(upload, "corrupt_file")
    media_id = uuid.uuid4().hex
    backend = storage.backend
    key = f"media/{media_id}/file.{processed.extension}"
    digest = hashlib.sha256()
    with open(processed.path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            digest.update(block)
        f.seek(0)
        stored_bytes = backend.save(key, f, processed.mime)
    thumb_key = None
    if processed.thumb_path is not None:
        thumb_key = f"media/{media_id}/thumb.jpg"
        with open(processed.thumb_path, "rb") as f:
            backend.save(thumb_key, f, "image/jpeg")
    media = Media(
        id=media_id, owner_id=owner.id, kind=processed.kind, mime=processed.mime, bytes=stored_bytes,
        sha256=digest.hexdigest(), width=processed.width, height=processed.height,
        duration_s=processed.duration_s, video_codec=processed.video_codec, audio_codec=processed.audio_codec,
        filename=upload.filename, storage_key=key, thumb_key=thumb_key,
    )
    db.session.add(media)
    upload.status, upload.media_id, upload.completed_at = "ready", media_id, utcnow()
    db.session.commit()
    backend.delete_prefix(f"uploads/{upload.id}/")
    request_media_check(owner, media)
    return ready_answer(upload)


_SERVER_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.EROFS}


def _server_side(error: Exception) -> bool:
    """The machine failed, not the file: no memory, no disk space, too many open files."""
    return isinstance(error, MemoryError) or (isinstance(error, OSError) and error.errno in _SERVER_ERRNOS)


def direct_upload(owner: User, file_storage) -> dict:
    """A small file in one multipart request (the handwriting PNG); same checks as chunks."""
    config = current_app.config
    limit = config["UPLOAD_DIRECT_MAX_BYTES"]
    with tempfile.TemporaryDirectory(prefix="qinglang-direct-", dir=config.get("UPLOAD_WORK_DIR")) as work:
        source = Path(work) / "direct"
        with open(source, "wb") as out:
            writer = _HashingWriter(out)
            while block := file_storage.stream.read(1024 * 1024):
                writer.write(block)
                if writer.count > limit:
                    raise ApiError("file_too_large", f"文件太大，直接上传最大 {_mb(limit)}，请使用分片上传", status=413)
        if writer.count == 0:
            raise ValidationFailed({"file": ["文件为空"]}, code="empty_file")
        upload = Upload(
            id=uuid.uuid4().hex, owner_id=owner.id, filename=clean_filename(file_storage.filename or "file"),
            size=writer.count, sha256=writer.digest.hexdigest(), chunk_size=writer.count, chunk_count=1,
            status="assembling", claimed_at=utcnow(),
        )
        db.session.add(upload)
        db.session.commit()
        return _finish(owner, upload, source, Path(work))


def media_urls(media: Media) -> dict:
    ttl = current_app.config["MEDIA_URL_TTL_S"]
    backend = storage.backend
    return {
        "url": _absolute(backend.signed_url(media.storage_key, ttl, media.mime, media.filename)),
        "thumb_url": _absolute(backend.signed_url(media.thumb_key, ttl, "image/jpeg")) if media.thumb_key else None,
    }


def _absolute(url: str) -> str:
    return public_url(url) if url.startswith("/") else url


def ready_answer(upload: Upload) -> dict:
    media = db.session.get(Media, upload.media_id)
    return {"id": upload.id, "status": "ready", "media": media, **media_urls(media)}


def media_of(owner: User, media_id: str) -> dict:
    media = db.session.get(Media, media_id) if len(media_id) <= 32 else None
    if media is None or media.owner_id != owner.id:
        raise NotFound("media_not_found", "文件不存在")
    return {"id": media.id, "status": "ready", "media": media, **media_urls(media)}


# --- content security -------------------------------------------------------------------------

def request_media_check(owner: User, media: Media) -> None:
    """Ask WeChat to check the picture (a video's poster). Failure here never loses the media:
    it stays `pending` and a later `flask media recheck` asks again."""
    from app.wechat.client import media_check_async

    if not current_app.config["CONTENT_SECURITY"] or not owner.openid or not media.thumb_key:
        return
    key = media.storage_key if media.kind == "image" else media.thumb_key
    mime = media.mime if media.kind == "image" else "image/jpeg"
    url = _absolute(storage.backend.signed_url(key, 3600, mime))
    media.moderation = "pending"
    try:
        media.moderation_trace_id = media_check_async(owner.openid, url)
    except ApiError:
        log.warning("media check request failed media_id=%s; left pending for `flask media recheck`", media.id)
    db.session.commit()


RECHECK_AFTER = timedelta(hours=1)


def recheck_pending_media(limit: int = 200) -> dict:
    """Ask WeChat again about media still `pending`: the request never got through (WeChat was
    down, so there is no trace id) or the verdict was not pushed within an hour."""
    lost_before = utcnow() - RECHECK_AFTER
    rows = db.session.scalars(
        select(Media)
        .where(Media.moderation == "pending",
               or_(Media.moderation_trace_id.is_(None), Media.created_at < lost_before))
        .order_by(Media.created_at).limit(limit)
    ).all()
    asked = 0
    for media in rows:
        owner = db.session.get(User, media.owner_id)
        before = media.moderation_trace_id
        request_media_check(owner, media)
        asked += media.moderation_trace_id not in (None, before)
    return {"pending": len(rows), "asked": asked}


def apply_media_check(trace_id: str, suggest: str | None) -> bool:
    """The verdict pushed by WeChat. Risky or uncertain → `review` (held for a person)."""
    media = db.session.scalar(select(Media).where(Media.moderation_trace_id == trace_id))
    if media is None:
        log.info("media check verdict for unknown trace")
        return False
    media.moderation = "pass" if suggest == "pass" else "review"
    db.session.commit()
    return True


def check_text(owner: User, text: str) -> str:
    """Text through msg_sec_check v2 when configured: `pass`, `review`, or `unchecked`."""
    from app.wechat.client import msg_sec_check

    if not current_app.config["CONTENT_SECURITY"] or not owner.openid or not text.strip():
        return "unchecked"
    return msg_sec_check(owner.openid, text)


# --- housekeeping -----------------------------------------------------------------------------

def expire_stale_uploads() -> dict:
    """Uploads abandoned for longer than UPLOAD_STALE_AFTER_S lose their chunks and can never
    become media; finished ones leave no chunks behind."""
    before = _stale_before()
    stale = db.session.scalars(
        select(Upload).where(Upload.status.in_(("pending", "assembling")), Upload.created_at < before)
    ).all()
    backend = storage.backend
    for upload in stale:
        upload.status = "expired"
        backend.delete_prefix(f"uploads/{upload.id}/")
    db.session.commit()
    # List storage first, then ask which of those uploads are live: an upload started between
    # the two steps has its chunks listed after its row exists, so it is never taken for an orphan.
    found = {key.split("/")[1] for key in backend.keys("uploads/")}
    live = set(db.session.scalars(
        select(Upload.id).where(Upload.id.in_(found), Upload.status.in_(("pending", "assembling")))
    )) if found else set()
    orphans = 0
    for upload_id in sorted(found - live):
        orphans += backend.delete_prefix(f"uploads/{upload_id}/")
    return {"expired": len(stale), "orphan_chunks": orphans}


def resolve_file_token(token: str) -> tuple[Path, dict]:
    backend = storage.backend
    if not isinstance(backend, FileStorage):
        raise NotFound()
    try:
        data = backend.resolve_token(token)
    except StorageError as exc:
        if str(exc) == "expired":
            raise ApiError("link_expired", "链接已过期，请刷新页面", status=403) from None
        raise NotFound("not_found", "文件不存在") from None
    path = backend.path(data["k"])
    if not path.is_file():
        raise NotFound("not_found", "文件不存在")
    return path, data
