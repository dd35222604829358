from marshmallow import ValidationError, fields, validate, validates_schema

from app.common.schemas import BaseSchema, PageArgsSchema, TrimmedString, aware_datetime, id_field

DEFAULT_PHASES = ("启动", "实施", "评估总结")


class PhaseSchema(BaseSchema):
    name = TrimmedString(required=True, validate=validate.Length(min=1, max=20))
    starts_at = aware_datetime(allow_none=True)
    ends_at = aware_datetime(allow_none=True)


def _check_window(data, start="starts_at", end="ends_at"):
    if data.get(start) and data.get(end) and data[end] <= data[start]:
        raise ValidationError("结束时间必须晚于开始时间", end)


class CampaignCreateSchema(BaseSchema):
    title = TrimmedString(required=True, validate=validate.Length(min=2, max=120))
    org_id = id_field(required=True)
    theme = TrimmedString(allow_none=True, validate=validate.Length(max=2000))
    starts_at = aware_datetime(allow_none=True)
    ends_at = aware_datetime(allow_none=True)
    phases = fields.List(fields.Nested(PhaseSchema), validate=validate.Length(max=10))

    @validates_schema
    def _windows(self, data, **_):
        _check_window(data)
        errors = {}
        for index, phase in enumerate(data.get("phases") or []):
            if phase.get("starts_at") and phase.get("ends_at") and phase["ends_at"] <= phase["starts_at"]:
                errors[f"phases.{index}.ends_at"] = ["结束时间必须晚于开始时间"]
        if errors:
            raise ValidationError(errors)


class PhaseOutSchema(BaseSchema):
    name = fields.String()
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)


class CampaignSchema(BaseSchema):
    id = fields.Integer()
    title = fields.String()
    org_id = fields.Integer()
    org_name = fields.String(attribute="org.name")
    theme = fields.String(allow_none=True)
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    phases = fields.List(fields.Nested(PhaseOutSchema))
    status = fields.String(metadata={"description": "upcoming, active or ended"})
    current_phase = fields.String(allow_none=True)
    created_at = fields.DateTime()


class CampaignListArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(("upcoming", "active", "ended")))
