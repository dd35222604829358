import hashlib
import io
import re

from flask import jsonify, request, send_file
from flask.views import MethodView

from app.api import Blueprint
from app.auth.current import current_user, current_user_id, load_current_user
from app.auth.decorators import login_required
from app.common import json_text
from app.common.downloads import XLSX, xlsx_download
from app.common.schemas import PageArgsSchema, page_of
from app.common.verification import certificate_response, poster_response
from app.quizzes import services
from app.quizzes.schemas import (
    AttemptSchema,
    AttemptStartSchema,
    BankCreateSchema,
    BankListArgsSchema,
    BankSchema,
    ChoiceSchema,
    FlagsSchema,
    ImportFileSchema,
    ImportFormSchema,
    ImportResultSchema,
    LeaderboardArgsSchema,
    LeaderboardSchema,
    OrgScopeArgsSchema,
    QuestionCreateSchema,
    QuestionInSchema,
    QuestionListArgsSchema,
    QuestionSchema,
    QuizCertificateSchema,
    QuizCreateSchema,
    QuizSchema,
    QuizUpdateSchema,
    ResultSchema,
    SavedChoiceSchema,
    StatsSchema,
    SubmitSchema,
    VoidedAttemptSchema,
    VoidSchema,
)

banks_blp = Blueprint("question_banks", __name__, url_prefix="/api/v1", description="题库与题目")
quizzes_blp = Blueprint("quizzes", __name__, url_prefix="/api/v1", description="知识竞赛与闯关")
attempts_blp = Blueprint("quiz_attempts", __name__, url_prefix="/api/v1", description="答题（服务器计时、交卷评分）")

DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def _device() -> str | None:
    """A hash of the app's own device id (`X-Device-Id`, a random value the mini-program keeps
    in its storage), or None: without one, or with anything but 8–128 letters, digits and
    `._:-`, no device is recorded. Never derived from the address and user agent: a whole
    class on the school's Wi-Fi would look like one device."""
    given = (request.headers.get("X-Device-Id") or "").strip()
    if not DEVICE_ID.fullmatch(given):
        return None
    return hashlib.sha256(given.encode()).hexdigest()[:32]


# --- question banks -----------------------------------------------------------------------


@banks_blp.route("/question-banks")
class QuestionBanks(MethodView):
    @login_required
    @banks_blp.arguments(BankCreateSchema)
    @banks_blp.response(201, BankSchema)
    @banks_blp.alt_response(403, description="forbidden: teachers and admins over the org only")
    @banks_blp.alt_response(404, description="org_not_found")
    @banks_blp.alt_response(422, description="validation_error")
    def post(self, body):
        """Create a question bank for an org; it is usable in that org's whole subtree"""
        return services.create_bank(current_user, body)

    @login_required
    @banks_blp.arguments(BankListArgsSchema, location="query")
    @banks_blp.response(200, page_of(BankSchema))
    @banks_blp.alt_response(403, description="forbidden: staff only")
    @banks_blp.alt_response(404, description="org_not_found")
    def get(self, args):
        """The banks you may use: those of your orgs, below them and above them"""
        return services.list_banks(current_user, args["page"], args["page_size"], args.get("org_id"))


@banks_blp.route("/question-banks/template")
class QuestionBankTemplate(MethodView):
    @login_required
    @banks_blp.response(200, content_type=XLSX, description="the Excel import template")
    @banks_blp.alt_response(401, description="unauthorized: log in first")
    def get(self):
        """Download the Excel import template (title row, instructions, header, three samples)"""
        return xlsx_download(services.template_file(), "题库导入模板.xlsx", "question-bank-template.xlsx")


@banks_blp.route("/question-banks/<int:bank_id>")
class QuestionBankDetail(MethodView):
    @login_required
    @banks_blp.response(200, BankSchema)
    @banks_blp.alt_response(404, description="bank_not_found")
    def get(self, bank_id):
        """One bank you may use"""
        return services.get_bank(current_user, bank_id)


@banks_blp.route("/question-banks/<int:bank_id>/import")
class QuestionBankImport(MethodView):
    @login_required
    @banks_blp.arguments(ImportFileSchema, location="files")
    @banks_blp.arguments(ImportFormSchema, location="form")
    @banks_blp.response(200, ImportResultSchema)
    @banks_blp.alt_response(403, description="forbidden: the bank belongs to an org above yours")
    @banks_blp.alt_response(404, description="bank_not_found")
    @banks_blp.alt_response(409, description="import_conflict: the bank changed at the same time")
    @banks_blp.alt_response(413, description="file_too_large (10 MB)")
    @banks_blp.alt_response(422, description="validation_error, empty_file, unsupported_file, unreadable_file, "
                                             "import_no_header, import_no_questions, import_too_large")
    def post(self, files, form, bank_id):
        """Import questions from .xlsx / .csv (teachers' own sheets), or GIFT / Aiken text.

        Valid rows are imported; invalid ones come back in `errors` with their spreadsheet row
        number and a Chinese reason; stems already in the bank are skipped and counted."""
        return services.import_questions(current_user, bank_id, files["file"], form.get("format"))


@banks_blp.route("/question-banks/<int:bank_id>/export")
class QuestionBankExport(MethodView):
    @login_required
    @banks_blp.response(200, content_type=XLSX, description="the bank as an Excel file that imports back")
    @banks_blp.alt_response(404, description="bank_not_found")
    def get(self, bank_id):
        """Export the bank to Excel, in the template's layout"""
        return xlsx_download(*services.export_bank(current_user, bank_id))


@banks_blp.route("/question-banks/<int:bank_id>/questions")
class BankQuestions(MethodView):
    @login_required
    @banks_blp.arguments(QuestionListArgsSchema, location="query")
    @banks_blp.response(200, page_of(QuestionSchema))
    @banks_blp.alt_response(404, description="bank_not_found")
    def get(self, args, bank_id):
        """The bank's questions with answers (staff), filtered by category, type, difficulty or words"""
        return services.list_questions(current_user, bank_id, args)

    @login_required
    @banks_blp.arguments(QuestionCreateSchema)
    @banks_blp.response(201, QuestionSchema)
    @banks_blp.alt_response(403, description="forbidden: the bank belongs to an org above yours")
    @banks_blp.alt_response(404, description="bank_not_found")
    @banks_blp.alt_response(409, description="duplicate_question: the bank has a question with this stem and "
                                              "these options")
    @banks_blp.alt_response(422, description="validation_error or invalid_question (with the reason)")
    def post(self, body, bank_id):
        """Add one question"""
        return services.create_question(current_user, bank_id, body)


@banks_blp.route("/questions/<int:question_id>")
class QuestionDetail(MethodView):
    @login_required
    @banks_blp.response(200, QuestionSchema)
    @banks_blp.alt_response(404, description="question_not_found")
    def get(self, question_id):
        """One question with its answer (staff who may use its bank)"""
        return services.get_question(current_user, question_id)

    @login_required
    @banks_blp.arguments(QuestionInSchema)
    @banks_blp.response(200, QuestionSchema)
    @banks_blp.alt_response(403, description="forbidden")
    @banks_blp.alt_response(404, description="question_not_found")
    @banks_blp.alt_response(409, description="duplicate_question; question_changed (saved or deleted by "
                                             "someone else at the same moment: reload and edit again); "
                                             "quiz_needs_question (a quiz not yet closed could no longer draw)")
    @banks_blp.alt_response(422, description="validation_error or invalid_question")
    def put(self, body, question_id):
        """Change a question (fields left out stay); attempts already started keep the old version"""
        return services.update_question(current_user, question_id, body)

    @login_required
    @banks_blp.response(204)
    @banks_blp.alt_response(403, description="forbidden")
    @banks_blp.alt_response(404, description="question_not_found")
    @banks_blp.alt_response(409, description="question_changed (edited by someone else meanwhile); "
                                             "quiz_needs_question (a quiz not yet closed would be short of questions)")
    def delete(self, question_id):
        """Remove a question from its bank; attempts that drew it keep its last version"""
        services.delete_question(current_user, question_id)


# --- quizzes ------------------------------------------------------------------------------


@quizzes_blp.route("/campaigns/<int:campaign_id>/quizzes")
class CampaignQuizzes(MethodView):
    @login_required
    @quizzes_blp.arguments(QuizCreateSchema)
    @quizzes_blp.response(201, QuizSchema)
    @quizzes_blp.alt_response(403, description="forbidden: admins of the campaign's org only")
    @quizzes_blp.alt_response(404, description="campaign_not_found")
    @quizzes_blp.alt_response(422, description="validation_error, bank_not_found, bank_out_of_scope, "
                                               "not_enough_questions (per draw rule), outside_campaign_period "
                                               "(a window bound left out takes the campaign's)")
    def post(self, body, campaign_id):
        """Create a quiz (知识竞赛) or, with `levels`, a 闯关 quiz in a campaign"""
        return services.create_quiz(current_user, campaign_id, body)

    @login_required
    @quizzes_blp.arguments(PageArgsSchema, location="query")
    @quizzes_blp.response(200, page_of(QuizSchema))
    @quizzes_blp.alt_response(404, description="campaign_not_found")
    def get(self, args, campaign_id):
        """The campaign's quizzes"""
        return services.list_quizzes(current_user, campaign_id, args["page"], args["page_size"])


@quizzes_blp.route("/quizzes/<int:quiz_id>")
class QuizDetail(MethodView):
    @login_required
    @quizzes_blp.response(200, QuizSchema)
    @quizzes_blp.alt_response(404, description="quiz_not_found")
    def get(self, quiz_id):
        """A quiz with your progress: attempts used, best scores, unlocked levels, an open attempt"""
        return services.get_quiz(current_user, quiz_id)

    @login_required
    @quizzes_blp.arguments(QuizUpdateSchema)
    @quizzes_blp.response(200, QuizSchema)
    @quizzes_blp.alt_response(403, description="forbidden: school and region admins over the campaign's org only")
    @quizzes_blp.alt_response(404, description="quiz_not_found")
    @quizzes_blp.alt_response(409, description="quiz_title_locked: the title is fixed once anyone has started")
    @quizzes_blp.alt_response(422, description="validation_error: the draw, time and scoring rules are never "
                                               "edited; the window must close after it opens; "
                                               "outside_campaign_period")
    def patch(self, body, quiz_id):
        """Correct a quiz: title, max_attempts, opens_at, closes_at (`null`: the campaign's bound)"""
        return services.update_quiz(current_user, quiz_id, body)


@quizzes_blp.route("/quizzes/<int:quiz_id>/attempts")
class QuizAttempts(MethodView):
    @login_required
    @quizzes_blp.arguments(AttemptStartSchema)
    @quizzes_blp.response(201, AttemptSchema, description="a new attempt: questions drawn and shuffled for you")
    @quizzes_blp.alt_response(200, schema=AttemptSchema, description="your attempt that is still open (resume)")
    @quizzes_blp.alt_response(404, description="quiz_not_found")
    @quizzes_blp.alt_response(409, description="quiz_not_open, quiz_closed, attempts_exhausted, level_locked, "
                                               "not_enough_questions, bank_changed")
    @quizzes_blp.alt_response(422, description="validation_error: level")
    def post(self, body, quiz_id):
        """Start an attempt. The answers and explanations stay on the server until you submit.

        `resumed` tells a new attempt (201) from your open one (200). Send `X-Device-Id` (a
        random id the app keeps, 8–128 of `A–Z a–z 0–9 . _ : -`) for the shared-device flag;
        without a valid one no device is recorded."""
        answer, created = services.start_quiz(current_user_id(), load_current_user, quiz_id, body.get("level"),
                                              _device())
        return json_text.response(answer, 201 if created else 200)


@quizzes_blp.route("/quizzes/<int:quiz_id>/leaderboard")
class QuizLeaderboard(MethodView):
    @login_required
    @quizzes_blp.arguments(LeaderboardArgsSchema, location="query")
    @quizzes_blp.response(200, LeaderboardSchema)
    @quizzes_blp.alt_response(404, description="quiz_not_found or org_not_found")
    @quizzes_blp.alt_response(422, description="validation_error, org_outside_campaign")
    def get(self, args, quiz_id):
        """Best result per student in a class / school / region (score desc, then time asc), and
        the org's children ranked by average score and participation rate"""
        return services.leaderboard(current_user, quiz_id, args.get("org_id"), args["page"], args["page_size"])


@quizzes_blp.route("/quizzes/<int:quiz_id>/stats")
class QuizStats(MethodView):
    @login_required
    @quizzes_blp.arguments(OrgScopeArgsSchema, location="query")
    @quizzes_blp.response(200, StatsSchema)
    @quizzes_blp.alt_response(403, description="forbidden: staff over the org only")
    @quizzes_blp.alt_response(404, description="quiz_not_found or org_not_found")
    @quizzes_blp.alt_response(422, description="org_outside_campaign")
    def get(self, args, quiz_id):
        """Item analysis: per question attempts, correct rate, option distribution, discrimination
        (above 5,000 attempts shared for QUIZ_STATS_CACHE_S and read from a sample)"""
        return services.quiz_stats(current_user, quiz_id, args.get("org_id"))


@quizzes_blp.route("/quizzes/<int:quiz_id>/results.xlsx")
class QuizResultsExport(MethodView):
    @login_required
    @quizzes_blp.arguments(OrgScopeArgsSchema, location="query")
    @quizzes_blp.response(200, content_type=XLSX, description="a summary sheet and one row per student")
    @quizzes_blp.alt_response(403, description="forbidden: staff over the org only")
    @quizzes_blp.alt_response(404, description="quiz_not_found or org_not_found")
    @quizzes_blp.alt_response(422, description="org_outside_campaign, export_too_large (EXPORT_MAX_ROWS)")
    def get(self, args, quiz_id):
        """Export an org's results to Excel: per child org (participation, average, pass rate,
        ranks) and per student, best result or 未参加"""
        return xlsx_download(*services.export_results(current_user, quiz_id, args.get("org_id")))


@quizzes_blp.route("/quizzes/<int:quiz_id>/flags")
class QuizFlags(MethodView):
    @login_required
    @quizzes_blp.arguments(OrgScopeArgsSchema, location="query")
    @quizzes_blp.response(200, FlagsSchema)
    @quizzes_blp.alt_response(403, description="forbidden: staff over the org only")
    @quizzes_blp.alt_response(404, description="quiz_not_found or org_not_found")
    @quizzes_blp.alt_response(422, description="org_outside_campaign, scope_too_large (more than 20,000 "
                                               "attempts: choose a district, school or class)")
    def get(self, args, quiz_id):
        """Suspicion flags for staff to look at (never automatic bans): too fast, identical sheets
        within a class, one device used by many accounts"""
        return services.quiz_flags(current_user, quiz_id, args.get("org_id"))


@quizzes_blp.route("/quizzes/<int:quiz_id>/certificate")
class QuizCertificate(MethodView):
    @login_required
    @quizzes_blp.response(200, content_type="image/png", description="the certificate poster")
    @quizzes_blp.alt_response(404, description="quiz_not_found")
    @quizzes_blp.alt_response(409, description="quiz_not_passed (闯关: not every level passed yet)")
    @quizzes_blp.alt_response(503, description="certificate_font_missing")
    def get(self, quiz_id):
        """Your certificate (PNG) once you passed the quiz, with a QR code to verify it"""
        png = services.quiz_certificate_image(current_user, quiz_id)
        response = send_file(io.BytesIO(png), mimetype="image/png", download_name="certificate.png", max_age=0)
        response.headers["Cache-Control"] = "private, max-age=300"
        return response


@quizzes_blp.route("/quiz-certificates/<string:serial>")
class QuizCertificateCheck(MethodView):
    @quizzes_blp.response(200, QuizCertificateSchema)
    @quizzes_blp.alt_response(404, description="certificate_not_found")
    def get(self, serial):
        """Public, no login: verify a quiz certificate (masked name, quiz, score, validity); a
        browser asking for HTML (the QR code opened by a scanner) gets it as a Chinese page"""
        return certificate_response(QuizCertificateSchema(), lambda: services.verify_certificate(serial),
                                    lambda: services.certificate_page(serial))


@quizzes_blp.route("/quiz-certificates/<string:serial>/image")
class QuizCertificatePoster(MethodView):
    @quizzes_blp.response(200, content_type="image/png", description="the certificate poster")
    @quizzes_blp.alt_response(404, description="certificate_not_found")
    @quizzes_blp.alt_response(409, description="certificate_not_valid: revoked (every attempt declared void)")
    @quizzes_blp.alt_response(503, description="certificate_font_missing")
    def get(self, serial):
        """Public, no login: the poster (PNG) of a quiz certificate, for pages opened from Moments"""
        return poster_response(services.certificate_image(serial))


# --- attempts -----------------------------------------------------------------------------


@attempts_blp.route("/attempts/<int:attempt_id>")
class AttemptDetail(MethodView):
    @login_required
    @attempts_blp.response(200, AttemptSchema, description="open: the questions and your saved choices")
    @attempts_blp.alt_response(404, description="attempt_not_found (also for other people's attempts)")
    def get(self, attempt_id):
        """Your attempt: the open questions to resume, or the result once it is scored"""
        answer = services.get_attempt(current_user_id(), attempt_id)
        if answer["status"] != "open":
            return jsonify(ResultSchema().dump(answer))
        return answer


@attempts_blp.route("/attempts/<int:attempt_id>/answers/<int:question_id>")
class AttemptAnswer(MethodView):
    @login_required
    @attempts_blp.arguments(ChoiceSchema)
    @attempts_blp.response(200, SavedChoiceSchema)
    @attempts_blp.alt_response(404, description="attempt_not_found or question_not_in_attempt")
    @attempts_blp.alt_response(409, description="attempt_submitted, attempt_deadline_passed")
    @attempts_blp.alt_response(422, description="validation_error or invalid_choice")
    def put(self, body, attempt_id, question_id):
        """Autosave your choice for one question (displayed keys; `[]` clears it)"""
        return json_text.response(services.save_answer(current_user_id(), attempt_id, question_id, body["choice"]),
                                  200)


@attempts_blp.route("/attempts/<int:attempt_id>/submit")
class AttemptSubmit(MethodView):
    @login_required
    @attempts_blp.arguments(SubmitSchema)
    @attempts_blp.response(200, ResultSchema)
    @attempts_blp.alt_response(404, description="attempt_not_found or question_not_in_attempt")
    @attempts_blp.alt_response(422, description="validation_error or invalid_choice")
    def post(self, body, attempt_id):
        """Hand in: scored on the server, with the answers and explanations. Submitting again
        answers the same result; after the deadline only what was saved in time counts."""
        return json_text.response(services.submit_attempt(current_user_id(), attempt_id, body.get("answers")), 200)


@attempts_blp.route("/attempts/<int:attempt_id>/void")
class AttemptVoid(MethodView):
    @login_required
    @attempts_blp.arguments(VoidSchema)
    @attempts_blp.response(200, VoidedAttemptSchema)
    @attempts_blp.alt_response(403, description="forbidden: teachers see flags, school or region admins decide")
    @attempts_blp.alt_response(404, description="attempt_not_found (or outside your org subtree)")
    @attempts_blp.alt_response(409, description="attempt_open: still being answered")
    @attempts_blp.alt_response(422, description="validation_error: reason is required (2–200 characters)")
    def post(self, body, attempt_id):
        """Declare a scored attempt void (after checking a suspicion flag): it leaves the
        leaderboard, the statistics and the best result, its certificate stops being valid,
        and it still counts against the attempt limit. Voiding again answers the same."""
        return services.void_attempt(current_user, attempt_id, body["reason"])
