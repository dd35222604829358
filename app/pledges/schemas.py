from marshmallow import ValidationError, fields, validate, validates_schema

from app.common.schemas import MAX_ID, BaseSchema, PageArgsSchema, TrimmedString, aware_datetime, id_field
from app.pledges.models import PLEDGE_MODES


class PledgeCreateSchema(BaseSchema):
    title = TrimmedString(required=True, validate=validate.Length(min=2, max=120))
    body = TrimmedString(required=True, validate=validate.Length(min=1, max=20000))
    mode = fields.String(load_default="individual", validate=validate.OneOf(PLEDGE_MODES))
    requires_handwriting = fields.Boolean(load_default=False)
    opens_at = aware_datetime(allow_none=True)
    closes_at = aware_datetime(allow_none=True)

    @validates_schema
    def _window(self, data, **_):
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            raise ValidationError("结束时间必须晚于开始时间", "closes_at")


class PledgeUpdateSchema(BaseSchema):
    """Only the fields sent change; `null` clears a window bound. The text, mode and handwriting
    rule are fixed once anyone has signed (their certificates carry them); the window can move."""

    title = TrimmedString(validate=validate.Length(min=2, max=120))
    body = TrimmedString(validate=validate.Length(min=1, max=20000))
    mode = fields.String(validate=validate.OneOf(PLEDGE_MODES))
    requires_handwriting = fields.Boolean()
    opens_at = aware_datetime(allow_none=True)
    closes_at = aware_datetime(allow_none=True)

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("请至少修改一项：标题、正文、签署方式、是否手写签名或签署时间")


class SignatureSchema(BaseSchema):
    id = fields.Integer()
    pledge_id = fields.Integer()
    serial = fields.String(metadata={"description": "certificate serial, unguessable"})
    status = fields.String(metadata={"description": "complete or awaiting_guardian"})
    signed_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    guardian_signed_at = fields.DateTime(allow_none=True, metadata={
        "description": "family mode: when a linked guardian co-signed (the recorded guardian consent)"})
    revoked = fields.Boolean()
    certificate_url = fields.String(metadata={"description": "public verification (GET, no login)"})
    image_url = fields.String(metadata={"description": "the PNG poster"})


class PledgeChildSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String(allow_none=True)
    status = fields.String(allow_none=True, metadata={
        "description": "null: the child has not signed; awaiting_guardian: your turn; complete"})
    revoked = fields.Boolean()
    serial = fields.String(allow_none=True, metadata={
        "description": "the family certificate's serial once the signature is complete"})


class PledgeSchema(BaseSchema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    campaign_title = fields.String(attribute="campaign.title")
    title = fields.String()
    body = fields.String()
    mode = fields.String(metadata={"description": "individual or family (小手牵大手)"})
    requires_handwriting = fields.Boolean()
    opens_at = fields.DateTime(allow_none=True)
    closes_at = fields.DateTime(allow_none=True)
    status = fields.String(metadata={"description": "upcoming, open or closed"})
    created_at = fields.DateTime()
    my_signature = fields.Nested(SignatureSchema, allow_none=True,
                                 metadata={"description": "the caller's own signature, if any"})
    guardian_only = fields.Boolean(allow_none=True, metadata={
        "description": "you see this campaign only as a linked child's guardian: an individual pledge is the "
                       "child's to sign (403 guardians_cosign_only), a family pledge you co-sign"})
    children = fields.List(fields.Nested(PledgeChildSchema), allow_none=True, metadata={
        "description": "family pledges, for a guardian: the linked children the campaign reaches "
                       "(students inside its org) and their signatures"})


class SignSchema(BaseSchema):
    handwriting_upload_id = fields.String(validate=validate.Length(min=1, max=32), allow_none=True, metadata={
        "description": "a ready upload of my own (POST /uploads/direct), the drawn signature PNG"})
    child_id = id_field(allow_none=True, metadata={
        "description": "family mode: a guardian co-signs the signature of this linked child"})


class SignatureRevokeSchema(BaseSchema):
    reason = TrimmedString(validate=validate.Length(max=200), allow_none=True)


class PledgeStatsArgsSchema(BaseSchema):
    # A query string: "12" is an integer here (JSON bodies use the strict id_field).
    org_id = fields.Integer(validate=validate.Range(min=1, max=MAX_ID), metadata={
        "description": "default: the campaign's org, or your own part of it"})


class SignatureExportArgsSchema(PledgeStatsArgsSchema):
    pass


class PledgeStatsChildSchema(BaseSchema):
    org_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    signed = fields.Integer()
    enrolled = fields.Integer()
    awaiting_guardian = fields.Integer()


class PledgeUnsignedStudentSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String()
    status = fields.String(allow_none=True, metadata={
        "description": "null: not signed; awaiting_guardian; revoked (by an admin: the student cannot sign it again)"})


class PledgeStatsSchema(BaseSchema):
    org_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    signed = fields.Integer(metadata={"description": "complete, unrevoked signatures of students in the subtree"})
    enrolled = fields.Integer(metadata={"description": "student memberships in the subtree"})
    awaiting_guardian = fields.Integer()
    children = fields.List(fields.Nested(PledgeStatsChildSchema))
    unsigned = fields.List(fields.Nested(PledgeUnsignedStudentSchema), metadata={
        "description": "a class only: its students without a complete signature, for reminders"})
    computed_at = fields.DateTime(metadata={"description": "counts may lag by a few seconds"})


class CertificateSchema(BaseSchema):
    serial = fields.String()
    name_masked = fields.String(metadata={"description": "张*三; never the full name"})
    title = fields.String(metadata={"description": "the pledge's title"})
    mode = fields.String()
    signed_at = fields.DateTime()
    school = fields.String(allow_none=True)
    valid = fields.Boolean()
    status = fields.String()
    revoked = fields.Boolean()
    revoked_at = fields.DateTime(allow_none=True)
    guardian_signed = fields.Boolean()
    image_url = fields.String()


class PledgeListArgsSchema(PageArgsSchema):
    pass
