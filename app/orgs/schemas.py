import re

from marshmallow import ValidationError, fields, validate, validates

from app.common.schemas import BaseSchema, PageArgsSchema, TrimmedString, id_field
from app.orgs.models import ORG_KINDS, ROLES

# Chinese names (with the middle dot of minority names) or Latin letters, 2–20 characters.
REAL_NAME_RE = re.compile(r"^(?:[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+(?:[·•][\u3400-\u9fff]+)*"
                          r"|[A-Za-z]+(?:[ .'-][A-Za-z]+)*)$")


def clean_real_name(value: str) -> str:
    """Trimmed, inner whitespace collapsed; raises ValidationError with a Chinese reason."""
    name = re.sub(r"\s+", " ", value or "").strip()
    if re.search(r"[\u4e00-\u9fff]", name):
        name = name.replace(" ", "")
    if not 2 <= len(name) <= 20:
        raise ValidationError("姓名应为 2–20 个字")
    if not REAL_NAME_RE.match(name):
        raise ValidationError("姓名只能包含汉字或英文字母")
    return name


class OrgSchema(BaseSchema):
    id = fields.Integer(dump_only=True)
    name = TrimmedString(required=True, validate=validate.Length(min=2, max=80))
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    # strict: 1.5 is an error, not org 1.
    parent_id = id_field(allow_none=True, load_default=None)
    depth = fields.Integer(dump_only=True)
    path = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class ChildrenArgsSchema(PageArgsSchema):
    kind = fields.String(validate=validate.OneOf(ORG_KINDS))


class InviteCreateSchema(BaseSchema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    max_uses = fields.Integer(strict=True, validate=validate.Range(min=1, max=2000))
    expires_in_s = fields.Integer(strict=True, validate=validate.Range(min=60))


class InviteOrgSchema(BaseSchema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()


class InviteSchema(BaseSchema):
    code = fields.String()
    role = fields.String()
    org_id = fields.Integer()
    org = fields.Nested(InviteOrgSchema)
    max_uses = fields.Integer()
    uses = fields.Integer()
    expires_at = fields.DateTime()
    qrcode_url = fields.String(metadata={"description": "小程序码 PNG for this invite"})


class InvitePreviewSchema(BaseSchema):
    """What someone holding the code sees before accepting."""

    code = fields.String()
    role = fields.String()
    org = fields.Nested(InviteOrgSchema)
    parents = fields.List(fields.Nested(InviteOrgSchema), metadata={"description": "the orgs above, root first"})
    expires_at = fields.DateTime()


class InviteAcceptSchema(BaseSchema):
    real_name = fields.String(required=True)

    @validates("real_name")
    def _check_name(self, value, **_):
        clean_real_name(value)


class AcceptedMembershipSchema(BaseSchema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.String(attribute="org.name")
    org_kind = fields.String(attribute="org.kind")
    role = fields.String()
    moved_from_org_id = fields.Integer(allow_none=True, metadata={"description": "a student's previous class"})
