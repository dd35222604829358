from marshmallow import fields, validate

from app.auth.schemas import ChildSchema
from app.common.schemas import BaseSchema


class FamilyCodeSchema(BaseSchema):
    code = fields.String()
    expires_at = fields.DateTime()


class FamilyLinkCreateSchema(BaseSchema):
    # A NUL would make PostgreSQL fail the lookup (a 500) instead of answering "not found".
    code = fields.String(required=True, validate=[
        validate.Length(min=4, max=12),
        validate.Regexp(r"^[^\x00]*\Z", error="家庭码格式不正确"),
    ])


class FamilyLinkSchema(BaseSchema):
    child = fields.Nested(ChildSchema)


class LinkedPersonSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String(allow_none=True, metadata={"description": "null when the account never gave one"})


class LinkItemSchema(BaseSchema):
    id = fields.Integer(metadata={"description": "the link's id (DELETE /family/links/{id})"})
    person = fields.Nested(LinkedPersonSchema)
    created_at = fields.DateTime()


class MyLinksSchema(BaseSchema):
    children = fields.List(fields.Nested(LinkItemSchema), metadata={"description": "children I am a guardian of"})
    guardians = fields.List(fields.Nested(LinkItemSchema), metadata={
        "description": "accounts linked as my guardian (students): each may co-sign family pledges for me"})

