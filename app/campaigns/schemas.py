from datetime import UTC, datetime

from marshmallow import ValidationError, fields, validate, validates_schema

from app.common.schemas import BaseSchema, PageArgsSchema, aware_datetime

DEFAULT_PHASES = ("启动", "实施", "评估总结")
MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL: larger numbers would fail in SQL, not be "not found"
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class TrimmedString(fields.String):
    """A string with surrounding whitespace removed before the length rules run, so a title of
    spaces is as missing as an empty one; NUL characters (which PostgreSQL refuses) are invalid."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("不能包含空字符")
        return text.strip()


def _plausible_time(value: datetime) -> None:
    # Year 1 or 9999 with an offset cannot even be converted to UTC for storage.
    if not EARLIEST <= value < LATEST:
        raise ValidationError("时间应在 2000 年到 2099 年之间")


def campaign_time(**kwargs):
    return aware_datetime(validate=_plausible_time, **kwargs)


class PhaseSchema(BaseSchema):
    name = TrimmedString(required=True, validate=validate.Length(min=1, max=20))
    starts_at = campaign_time(allow_none=True)
    ends_at = campaign_time(allow_none=True)


def _check_window(data, start="starts_at", end="ends_at"):
    if data.get(start) and data.get(end) and data[end] <= data[start]:
        raise ValidationError("结束时间必须晚于开始时间", end)


class CampaignCreateSchema(BaseSchema):
    title = TrimmedString(required=True, validate=validate.Length(min=2, max=120))
    org_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    theme = TrimmedString(allow_none=True, validate=validate.Length(max=2000))
    starts_at = campaign_time(allow_none=True)
    ends_at = campaign_time(allow_none=True)
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
