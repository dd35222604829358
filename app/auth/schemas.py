from marshmallow import fields, validate

from app.common.schemas import BaseSchema

# Codes and usernames are printable text; a NUL or other control character is never valid
# (and PostgreSQL cannot even compare against one).
NO_CONTROL_CHARS = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="包含无效字符")


class WeChatLoginSchema(BaseSchema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=128), NO_CONTROL_CHARS],
                         metadata={"description": "the code from wx.login()"})


class PasswordLoginSchema(BaseSchema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=64), NO_CONTROL_CHARS])
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class MembershipSchema(BaseSchema):
    id = fields.Integer()
    org_id = fields.Integer()
    org_name = fields.String(attribute="org.name")
    org_kind = fields.String(attribute="org.kind")
    role = fields.String()


class ChildSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String(allow_none=True)


class MeSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String(allow_none=True)
    username = fields.String(allow_none=True)
    is_platform_admin = fields.Boolean()
    memberships = fields.List(fields.Nested(MembershipSchema))
    children = fields.List(fields.Nested(ChildSchema))


class TokensSchema(BaseSchema):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True, metadata={"description": "seconds the access token lives"})
    user = fields.Nested(MeSchema, required=True)


class AccessTokenSchema(BaseSchema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True)
    expires_in = fields.Integer(required=True)
