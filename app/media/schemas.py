from marshmallow import fields, validate

from app.common.schemas import BaseSchema


class UploadCreateSchema(BaseSchema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    # strict: 1.5 is an error, not a 1-byte file.
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    sha256 = fields.String(validate=validate.Regexp(r"^[0-9a-fA-F]{64}$", error="应为 64 位十六进制 SHA-256"))


class UploadCreatedSchema(BaseSchema):
    id = fields.String()
    chunk_size = fields.Integer()
    chunk_count = fields.Integer()
    status = fields.String()


class UploadStatusSchema(BaseSchema):
    id = fields.String()
    status = fields.String(metadata={"description": "pending, assembling, ready, failed or expired"})
    size = fields.Integer()
    chunk_size = fields.Integer()
    chunk_count = fields.Integer()
    received = fields.List(fields.Integer(), metadata={"description": "indexes of the chunks already stored"})
    failure_code = fields.String(allow_none=True)


class MediaInfoSchema(BaseSchema):
    id = fields.String()
    kind = fields.String(metadata={"description": "image or video"})
    mime = fields.String()
    bytes = fields.Integer()
    width = fields.Integer(allow_none=True)
    height = fields.Integer(allow_none=True)
    duration_s = fields.Float(allow_none=True)
    moderation = fields.String(metadata={"description": "unchecked, pending, pass or review"})


class UploadReadySchema(BaseSchema):
    id = fields.String()
    status = fields.String()
    media = fields.Nested(MediaInfoSchema)
    url = fields.String(metadata={"description": "short-lived signed URL of the stored file"})
    thumb_url = fields.String(allow_none=True, metadata={"description": "thumbnail or video poster"})


class DirectUploadSchema(BaseSchema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ChunkReceivedSchema(BaseSchema):
    index = fields.Integer()
    received = fields.Integer(metadata={"description": "how many chunks are stored now"})
    chunk_count = fields.Integer()
