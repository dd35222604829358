from marshmallow import ValidationError, fields, validate, validates_schema

from app.common.schemas import MAX_ID, BaseSchema, PageArgsSchema, TrimmedString, aware_datetime, id_field
from app.quizzes.models import QUESTION_TYPES

MAX_DRAW = 200
TYPE_FIELD = fields.String(validate=validate.OneOf(QUESTION_TYPES))


def query_id(**kwargs) -> fields.Integer:
    """An id in the query string (text there, so not strict)."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


# --- banks and questions ------------------------------------------------------------------


class BankCreateSchema(BaseSchema):
    name = TrimmedString(required=True, validate=validate.Length(min=2, max=80))
    org_id = id_field(required=True)


class BankSchema(BaseSchema):
    id = fields.Integer()
    name = fields.String()
    org_id = fields.Integer()
    org_name = fields.String()
    question_count = fields.Integer()
    can_edit = fields.Boolean(metadata={"description": "whether you may change its questions"})
    created_at = fields.DateTime()


class BankListArgsSchema(PageArgsSchema):
    org_id = query_id(metadata={"description": "only banks usable in this org"})


class ImportFormSchema(BaseSchema):
    format = fields.String(validate=validate.OneOf(("xlsx", "csv", "gift", "aiken")),
                           metadata={"description": "xlsx, csv, gift or aiken; guessed from the file when left out"})


class ImportFileSchema(BaseSchema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class ImportErrorSchema(BaseSchema):
    row = fields.Integer(metadata={"description": "spreadsheet row (or text line) number, as Excel shows it"})
    sheet = fields.String(metadata={"description": "the sheet's name; only when the workbook had several"})
    message = fields.String(metadata={"description": "Chinese reason"})


class ImportSheetSchema(BaseSchema):
    name = fields.String()
    imported = fields.Integer()
    skipped = fields.Integer()
    skipped_rows = fields.List(fields.Integer())
    errors = fields.Integer(metadata={"description": "how many of `errors` are on this sheet"})


class ImportResultSchema(BaseSchema):
    imported = fields.Integer()
    skipped = fields.Integer(
        metadata={"description": "rows whose stem is already in the bank (or repeated in the file)"})
    skipped_rows = fields.List(fields.Integer())
    errors = fields.List(fields.Nested(ImportErrorSchema))
    sheets = fields.List(fields.Nested(ImportSheetSchema), metadata={
        "description": "per sheet, when the workbook had several with questions (one per 题型 is common)"})
    format = fields.String()


class OptionSchema(BaseSchema):
    key = fields.String()
    text = fields.String()


class QuestionInSchema(BaseSchema):
    """Loose input like the spreadsheet: `answer` is `["A", "C"]`, `"AC"`, `"正确"`, `"√"` …"""

    type = fields.String(metadata={"description": "single, multiple, true_false (or 单选题/多选题/判断题)"})
    stem = fields.String(validate=validate.Length(max=2000))
    options = fields.List(fields.String(validate=validate.Length(max=500)), validate=validate.Length(max=6))
    answer = fields.Raw(metadata={"description": "option keys, e.g. [\"A\",\"C\"] or \"AC\"; 正确/错误 for true_false"})
    explanation = fields.String(allow_none=True, validate=validate.Length(max=4000))
    category = fields.String(allow_none=True, validate=validate.Length(max=40))
    difficulty = fields.Raw(allow_none=True, metadata={"description": "1–3 or 易/中/难"})
    legal_basis = fields.String(allow_none=True, validate=validate.Length(max=200))

    @validates_schema
    def _answer_shape(self, data, **_):
        answer = data.get("answer")
        if answer is not None and not isinstance(answer, (str, bool, list)):
            raise ValidationError("应为选项字母或其列表", "answer")
        if isinstance(answer, list) and not all(isinstance(item, str) for item in answer):
            raise ValidationError("应为选项字母的列表", "answer")
        if data.get("difficulty") is not None and not isinstance(data["difficulty"], (str, int)):
            raise ValidationError("应为 1–3 或 易/中/难", "difficulty")


class QuestionCreateSchema(QuestionInSchema):
    stem = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    answer = fields.Raw(required=True,
                        metadata={"description": "option keys, e.g. [\"A\",\"C\"]; 正确/错误 for true_false"})


class QuestionSchema(BaseSchema):
    id = fields.Integer()
    bank_id = fields.Integer()
    type = fields.String()
    stem = fields.String()
    options = fields.List(fields.Nested(OptionSchema))
    answer = fields.List(fields.String())
    explanation = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    difficulty = fields.Integer()
    legal_basis = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class QuestionListArgsSchema(PageArgsSchema):
    """Filters of a bank's question list; a blank one (an "all" choice sends `category=`) filters nothing."""

    category = TrimmedString(validate=validate.Length(max=40))
    type = TYPE_FIELD
    difficulty = fields.Integer(validate=validate.Range(min=1, max=3))
    q = TrimmedString(validate=validate.Length(max=100), metadata={"description": "words in the stem"})


# --- quizzes ------------------------------------------------------------------------------


class DrawRuleSchema(BaseSchema):
    count = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_DRAW))
    category = TrimmedString(allow_none=True, validate=validate.Length(max=40))  # " 网络安全法 " pasted
    difficulty = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1, max=3))
    type = fields.String(allow_none=True, validate=validate.OneOf(QUESTION_TYPES))


def _draw_field(**kwargs):
    return fields.List(fields.Nested(DrawRuleSchema), validate=validate.Length(min=1, max=20), **kwargs)


def _check_draw_total(draw, field_name):
    if draw and sum(rule["count"] for rule in draw) > MAX_DRAW:
        raise ValidationError(f"每次最多抽取 {MAX_DRAW} 道题", field_name)


class LevelSchema(BaseSchema):
    title = TrimmedString(validate=validate.Length(min=1, max=60))
    draw = _draw_field(required=True)
    pass_score = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000))
    time_limit_s = fields.Integer(strict=True, validate=validate.Range(min=30, max=6 * 3600))


class PointsSchema(BaseSchema):
    single = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    multiple = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))
    true_false = fields.Integer(strict=True, validate=validate.Range(min=0, max=100))


def _title_field(**kwargs):
    return TrimmedString(validate=validate.Length(min=2, max=120), **kwargs)


def _max_attempts_field(**kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=1, max=100), **kwargs)


class QuizCreateSchema(BaseSchema):
    title = _title_field(required=True)
    bank_id = id_field(required=True)
    draw = _draw_field()
    time_limit_s = fields.Integer(strict=True, load_default=1200, validate=validate.Range(min=30, max=6 * 3600))
    max_attempts = _max_attempts_field(load_default=3)
    pass_score = fields.Integer(strict=True, validate=validate.Range(min=0, max=100_000),
                                metadata={"description": "points needed to pass, at most the full score; 60% "
                                                         "of the full score when left out"})
    opens_at = aware_datetime(allow_none=True)
    closes_at = aware_datetime(allow_none=True)
    points = fields.Nested(PointsSchema, metadata={"description": "points per question type, 5 each by default"})
    multiple_partial = fields.Boolean(
        load_default=False,
        metadata={"description": "multiple choice: all-or-nothing (false, default) or half the points (rounded "
                                 "down) for a choice of only correct keys that misses some"})
    levels = fields.List(fields.Nested(LevelSchema), validate=validate.Length(min=1, max=20),
                         metadata={"description": "闯关: level n+1 opens when level n is passed"})

    @validates_schema
    def _rules(self, data, **_):
        if not data.get("levels") and not data.get("draw"):
            raise ValidationError("请设置抽题规则", "draw")
        _check_draw_total(data.get("draw"), "draw")
        for index, level in enumerate(data.get("levels") or []):
            _check_draw_total(level["draw"], f"levels.{index}.draw")
        if data.get("opens_at") and data.get("closes_at") and data["closes_at"] <= data["opens_at"]:
            raise ValidationError("结束时间必须晚于开始时间", "closes_at")


# Fixed once a quiz exists: every student of a quiz answers under the same draw, time and scoring
# (and the fast start keeps them per process, app/quizzes/services.py `_remember_start_facts`).
QUIZ_RULE_FIELDS = ("bank_id", "draw", "levels", "time_limit_s", "pass_score", "points", "multiple_partial")


class QuizUpdateSchema(BaseSchema):
    """Only the fields sent change; a window bound sent as `null` becomes the campaign's. The title
    is fixed once anyone has started (certificates carry it); the rules (QUIZ_RULE_FIELDS) are
    fixed from the start."""

    title = _title_field()
    max_attempts = _max_attempts_field()
    opens_at = aware_datetime(allow_none=True)
    closes_at = aware_datetime(allow_none=True)

    @validates_schema(pass_original=True)
    def _editable(self, data, original_data, **_):
        sent = original_data if isinstance(original_data, dict) else {}
        fixed = {name: ["竞赛创建后不能修改抽题、计时和计分规则（所有学生须按同一规则作答），如需调整请新建竞赛"]
                 for name in QUIZ_RULE_FIELDS if name in sent}
        if fixed:
            raise ValidationError(fixed)
        if not data:
            raise ValidationError("请至少修改一项：标题、答题次数或开放时间")


class LevelOutSchema(BaseSchema):
    level = fields.Integer()
    title = fields.String()
    draw = fields.List(fields.Nested(DrawRuleSchema))
    question_count = fields.Integer()
    pass_score = fields.Integer()
    time_limit_s = fields.Integer()


class LevelProgressSchema(BaseSchema):
    level = fields.Integer()
    attempts_used = fields.Integer()
    best_score = fields.Integer(allow_none=True)
    passed = fields.Boolean()
    unlocked = fields.Boolean()


class MyQuizSchema(BaseSchema):
    open_attempt_id = fields.Integer(allow_none=True)
    levels = fields.List(fields.Nested(LevelProgressSchema))
    certificate_serial = fields.String(allow_none=True,
                                       metadata={"description": "set once passed: GET /quiz-certificates/{serial}"})


class QuizSchema(BaseSchema):
    id = fields.Integer()
    campaign_id = fields.Integer()
    bank_id = fields.Integer()
    title = fields.String()
    draw = fields.List(fields.Nested(DrawRuleSchema))
    leveled = fields.Boolean()
    levels = fields.List(fields.Nested(LevelOutSchema))
    points = fields.Dict(keys=fields.String(), values=fields.Integer())
    multiple_partial = fields.Boolean()
    question_count = fields.Integer()
    time_limit_s = fields.Integer()
    max_attempts = fields.Integer()
    pass_score = fields.Integer()
    opens_at = fields.DateTime(allow_none=True)
    closes_at = fields.DateTime(allow_none=True)
    status = fields.String(metadata={"description": "upcoming, open or closed"})
    me = fields.Nested(MyQuizSchema, allow_none=True, metadata={"description": "your attempts and unlocked levels"})
    created_at = fields.DateTime()


# --- attempts -----------------------------------------------------------------------------


class AttemptStartSchema(BaseSchema):
    level = fields.Integer(strict=True, validate=validate.Range(min=1, max=20),
                           metadata={"description": "闯关 level; the first one not yet passed when left out"})


class AttemptQuestionSchema(BaseSchema):
    id = fields.Integer()
    type = fields.String()
    stem = fields.String()
    options = fields.List(fields.Nested(OptionSchema))
    points = fields.Integer()


class AttemptSchema(BaseSchema):
    """An open attempt: the questions as this student sees them, and nothing that gives an answer away."""

    id = fields.Integer()
    quiz_id = fields.Integer()
    level = fields.Integer()
    number = fields.Integer(metadata={"description": "which attempt at this level (1, 2 …)"})
    status = fields.String()
    started_at = fields.DateTime()
    deadline = fields.DateTime()
    time_limit_s = fields.Integer()
    server_time = fields.DateTime()
    questions = fields.List(fields.Nested(AttemptQuestionSchema))
    saved = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                        metadata={"description": "your autosaved choices by question id"})
    resumed = fields.Boolean(metadata={"description": "start only: true when this is your attempt that was still "
                                                      "open (resume it), false for a new one"})


class ChoiceSchema(BaseSchema):
    choice = fields.List(fields.String(validate=validate.Length(max=2)), required=True,
                         validate=validate.Length(max=6))


class SavedChoiceSchema(BaseSchema):
    question_id = fields.Integer()
    choice = fields.List(fields.String())
    saved_at = fields.DateTime()


class SubmitSchema(BaseSchema):
    answers = fields.Dict(keys=fields.String(validate=validate.Length(max=12)),
                          values=fields.List(fields.String(validate=validate.Length(max=2)),
                                             validate=validate.Length(max=6)),
                          validate=validate.Length(max=MAX_DRAW))


class ResultQuestionSchema(BaseSchema):
    id = fields.Integer()
    type = fields.String()
    stem = fields.String()
    options = fields.List(fields.Nested(OptionSchema))
    choice = fields.List(fields.String())
    correct = fields.Boolean()
    points = fields.Integer()
    earned = fields.Integer()
    answer = fields.List(fields.String(), metadata={"description": "the correct keys as displayed in this attempt"})
    explanation = fields.String(allow_none=True)
    legal_basis = fields.String(allow_none=True)


class ResultSchema(BaseSchema):
    id = fields.Integer()
    quiz_id = fields.Integer()
    level = fields.Integer()
    status = fields.String()
    ended_by = fields.String(metadata={"description": "submit, or deadline when the time ran out"})
    score = fields.Integer()
    max_score = fields.Integer()
    pass_score = fields.Integer()
    passed = fields.Boolean()
    duration_s = fields.Float()
    started_at = fields.DateTime()
    finished_at = fields.DateTime()
    next_level = fields.Integer(allow_none=True, metadata={"description": "the level this result unlocked"})
    late_answers_ignored = fields.Boolean(metadata={
        "description": "true when this submit came after the deadline (plus grace) carrying answers other than "
                       "those saved in time: they were not counted, the attempt is scored with what was saved"})
    questions = fields.List(fields.Nested(ResultQuestionSchema))
    void_reason = fields.String(allow_none=True, metadata={
        "description": "status voided: why an admin declared this attempt void (it counts for nothing)"})


class VoidSchema(BaseSchema):
    reason = TrimmedString(required=True, validate=validate.Length(min=2, max=200),
                           metadata={"description": "why, for the record and the student (与同班同学答案雷同，经核实)"})


class VoidedAttemptSchema(BaseSchema):
    id = fields.Integer()
    quiz_id = fields.Integer()
    level = fields.Integer()
    status = fields.String(metadata={"description": "voided"})
    score = fields.Integer()
    max_score = fields.Integer()
    passed = fields.Boolean()
    voided_at = fields.DateTime()
    void_reason = fields.String()


# --- leaderboard, statistics, flags -------------------------------------------------------


class OrgScopeArgsSchema(BaseSchema):
    org_id = query_id(metadata={"description": "class, school or region; the campaign's org when left out"})


class LeaderboardArgsSchema(OrgScopeArgsSchema, PageArgsSchema):
    pass


class LeaderboardEntrySchema(BaseSchema):
    rank = fields.Integer()
    name = fields.String(metadata={"description": "masked (张*三) outside your own class"})
    org_id = fields.Integer(allow_none=True)
    org_name = fields.String(allow_none=True)
    score = fields.Integer()
    max_score = fields.Integer()
    duration_s = fields.Float()
    levels_passed = fields.Integer()
    passed = fields.Boolean(metadata={"description": "passed the quiz: for 闯关, every level"})
    is_me = fields.Boolean()


class OrgRankingSchema(BaseSchema):
    org_id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    enrolled = fields.Integer(metadata={"description": "student memberships in the subtree"})
    took = fields.Integer(metadata={"description": "students with a finished attempt"})
    participation_rate = fields.Float()
    average_score = fields.Float(allow_none=True)
    pass_rate = fields.Float(allow_none=True, metadata={"description": "passed ÷ took (best attempts)"})
    rank_by_score = fields.Integer()
    rank_by_participation = fields.Integer()


class LeaderboardSchema(BaseSchema):
    quiz_id = fields.Integer()
    org_id = fields.Integer()
    items = fields.List(fields.Nested(LeaderboardEntrySchema))
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer()
    me = fields.Nested(LeaderboardEntrySchema, allow_none=True)
    orgs = fields.List(fields.Nested(OrgRankingSchema), metadata={"description": "the org's children, by average"})


class OptionCountSchema(BaseSchema):
    key = fields.String(metadata={"description": "authored position: A = the first option in the bank"})
    text = fields.String(allow_none=True)
    count = fields.Integer(metadata={"description": "how many of the analysed attempts chose it"})


class QuestionStatSchema(BaseSchema):
    id = fields.Integer()
    type = fields.String()
    stem = fields.String()
    category = fields.String(allow_none=True)
    answer = fields.List(fields.String(), metadata={"description": "correct keys in authored order (A = first)"})
    attempts = fields.Integer(metadata={"description": "analysed attempts that drew it (see `analysed_attempts`)"})
    answered = fields.Integer()
    correct = fields.Integer()
    correct_rate = fields.Float(allow_none=True, metadata={"description": "facility: correct ÷ attempts"})
    discrimination = fields.Float(allow_none=True, metadata={"description": "upper 27% minus lower 27% correct rate"})
    options = fields.Dict(keys=fields.String(), values=fields.Integer(),
                          metadata={"description": "how often each authored option was chosen"})
    distribution = fields.List(fields.Nested(OptionCountSchema), metadata={
        "description": "the same counts with each option's text, in the bank's order (A = first authored option)"})


class CategoryStatSchema(BaseSchema):
    category = fields.String(allow_none=True)
    answers = fields.Integer()
    correct_rate = fields.Float(allow_none=True)


class NotTakenStudentSchema(BaseSchema):
    id = fields.Integer()
    real_name = fields.String()


class StatsSchema(BaseSchema):
    quiz_id = fields.Integer()
    org_id = fields.Integer()
    attempts = fields.Integer()
    students = fields.Integer()
    analysed_attempts = fields.Integer(metadata={
        "description": "how many attempts the item analysis (questions, categories) read: all of them, or above "
                       "20,000 an even sample of 20,000 (the totals are always exact)"})
    enrolled = fields.Integer(metadata={
        "description": "students enrolled now in the part of the org the campaign reaches"})
    took = fields.Integer(metadata={
        "description": "how many of them have a scored attempt, taken anywhere (`students`: who took it here)"})
    not_taken_count = fields.Integer(metadata={
        "description": "how many of them have no scored attempt (taken anywhere); a class also lists them"})
    average_score = fields.Float(allow_none=True, metadata={
        "description": "average best score of the `took` students (as the leaderboard's org table and the export)"})
    pass_rate = fields.Float(allow_none=True, metadata={
        "description": "passed ÷ took over the same students' best results (闯关: every level)"})
    attempt_average_score = fields.Float(allow_none=True, metadata={
        "description": "average score of the `attempts` scored here, retakes included"})
    attempt_pass_rate = fields.Float(allow_none=True, metadata={
        "description": "share of those attempts that passed (闯关: their level)"})
    questions = fields.List(fields.Nested(QuestionStatSchema))
    categories = fields.List(fields.Nested(CategoryStatSchema))
    not_taken = fields.List(fields.Nested(NotTakenStudentSchema), metadata={
        "description": "a class only: its students without a scored attempt (taken in any class), for reminders"})


class FlagSchema(BaseSchema):
    kind = fields.String(metadata={"description": "too_fast, identical_answers or shared_device"})
    detail = fields.String()
    attempt_ids = fields.List(fields.Integer())
    users = fields.List(fields.String(), metadata={"description": "real names (staff only)"})


class FlagsSchema(BaseSchema):
    quiz_id = fields.Integer()
    org_id = fields.Integer()
    flags = fields.List(fields.Nested(FlagSchema))


class QuizCertificateSchema(BaseSchema):
    serial = fields.String()
    name_masked = fields.String(metadata={"description": "张*三"})
    title = fields.String()
    school = fields.String(allow_none=True)
    score = fields.Integer(allow_none=True, metadata={"description": "null once revoked"})
    max_score = fields.Integer(allow_none=True)
    passed_at = fields.DateTime(allow_none=True)
    valid = fields.Boolean()
    revoked = fields.Boolean(metadata={"description": "every attempt behind it was declared void by the school"})
