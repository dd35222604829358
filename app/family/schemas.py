from marshmallow import fields, validate

from app.auth.schemas import ChildSchema
from app.common.schemas import BaseSchema


class FamilyCodeSchema(BaseSchema):
    code = fields.String()
    expires_at = fields.DateTime()


class FamilyLinkCreateSchema(BaseSchema):
    code = fields.String(required=True, validate=validate.Length(min=4, max=12))


class FamilyLinkSchema(BaseSchema):
    child = fields.Nested(ChildSchema)
