from flask import request, send_file
from flask.views import MethodView

from app.api import Blueprint
from app.auth.current import current_user
from app.auth.decorators import login_required
from app.media import services
from app.media.schemas import (
    ChunkReceivedSchema,
    DirectUploadSchema,
    UploadCreatedSchema,
    UploadCreateSchema,
    UploadReadySchema,
    UploadStatusSchema,
)

blp = Blueprint("media", __name__, url_prefix="/api/v1", description="文件上传")
files_blp = Blueprint("files", __name__, url_prefix="/api/v1", description="签名下载链接（本地存储）")

REJECTIONS = ("unsupported_type, corrupt_file, image_too_large, video_unplayable, size_mismatch, "
              "checksum_mismatch")


@blp.route("/uploads")
class Uploads(MethodView):
    @login_required
    @blp.arguments(UploadCreateSchema)
    @blp.response(201, UploadCreatedSchema)
    @blp.alt_response(413, description="file_too_large: above the configured ceiling")
    @blp.alt_response(422, description="validation_error")
    def post(self, body):
        """Start a resumable upload; send chunks of `chunk_size` bytes next"""
        return services.create_upload(current_user, body["filename"], body["size"], body.get("sha256"))


@blp.route("/uploads/<string:upload_id>")
class UploadDetail(MethodView):
    @login_required
    @blp.response(200, UploadStatusSchema)
    @blp.alt_response(404, description="upload_not_found (also for other people's uploads)")
    def get(self, upload_id):
        """Which chunks arrived, so an interrupted upload resumes where it stopped"""
        return services.upload_status(current_user, upload_id)


@blp.route("/uploads/<string:upload_id>/chunks/<int:index>")
class UploadChunk(MethodView):
    @login_required
    @blp.doc(requestBody={"required": True, "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}})
    @blp.response(200, ChunkReceivedSchema)
    @blp.alt_response(404, description="upload_not_found")
    @blp.alt_response(409, description="upload_finished")
    @blp.alt_response(410, description="upload_expired")
    @blp.alt_response(413, description="payload_too_large")
    @blp.alt_response(422, description="chunk_index_out_of_range or chunk_size_mismatch")
    def put(self, upload_id, index):
        """Store one chunk (raw bytes); any order, re-sending is safe"""
        return services.put_chunk(current_user, upload_id, index, request.stream, request.content_length)


@blp.route("/uploads/<string:upload_id>/complete")
class UploadComplete(MethodView):
    @login_required
    @blp.response(200, UploadReadySchema)
    @blp.alt_response(404, description="upload_not_found")
    @blp.alt_response(409, description="upload_incomplete (errors.missing) or upload_busy")
    @blp.alt_response(410, description="upload_expired")
    @blp.alt_response(422, description=REJECTIONS)
    def post(self, upload_id):
        """Assemble, verify and inspect the file; answers the media or the reason it was refused"""
        return services.complete_upload(current_user, upload_id)


@blp.route("/uploads/direct")
class DirectUpload(MethodView):
    @login_required
    @blp.arguments(DirectUploadSchema, location="files")
    @blp.response(201, UploadReadySchema)
    @blp.alt_response(413, description="file_too_large")
    @blp.alt_response(422, description=REJECTIONS + ", empty_file")
    def post(self, files):
        """Upload a small file (a handwritten signature) in one multipart request"""
        return services.direct_upload(current_user, files["file"])


@blp.route("/media/<string:media_id>")
class MediaDetail(MethodView):
    @login_required
    @blp.response(200, UploadReadySchema)
    @blp.alt_response(404, description="media_not_found")
    def get(self, media_id):
        """One of my media with fresh signed URLs"""
        return services.media_of(current_user, media_id)


@files_blp.route("/files/<string:token>")
class SignedFile(MethodView):
    @files_blp.response(200, content_type="application/octet-stream", description="the file")
    @files_blp.alt_response(403, description="link_expired")
    @files_blp.alt_response(404, description="not_found: forged link or no such file")
    def get(self, token):
        """A stored file behind a short-lived signed link (file storage backend)"""
        path, data = services.resolve_file_token(token)
        response = send_file(path, mimetype=data.get("t") or "application/octet-stream",
                             download_name=data.get("n") or path.name, conditional=True, max_age=0)
        response.headers["Cache-Control"] = "private, max-age=300"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
