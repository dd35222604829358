from flask.views import MethodView

from app.api import Blueprint
from app.auth.current import current_user, current_user_id, load_current_user
from app.auth.decorators import login_required
from app.common import json_text
from app.common.downloads import XLSX, xlsx_download
from app.common.schemas import page_of
from app.common.verification import certificate_response, poster_response
from app.pledges import services
from app.pledges.schemas import (
    CertificateSchema,
    PledgeCreateSchema,
    PledgeListArgsSchema,
    PledgeSchema,
    PledgeStatsArgsSchema,
    PledgeStatsSchema,
    PledgeUpdateSchema,
    SignatureExportArgsSchema,
    SignatureRevokeSchema,
    SignatureSchema,
    SignSchema,
)

blp = Blueprint("pledges", __name__, url_prefix="/api/v1", description="承诺签署与证书")


@blp.route("/campaigns/<int:campaign_id>/pledges")
class CampaignPledges(MethodView):
    @login_required
    @blp.arguments(PledgeCreateSchema)
    @blp.response(201, PledgeSchema)
    @blp.alt_response(403, description="forbidden: region and school admins over the campaign's org only")
    @blp.alt_response(404, description="campaign_not_found")
    @blp.alt_response(422, description="validation_error")
    def post(self, body, campaign_id):
        """Add a pledge (individual or family) to a campaign you administer"""
        return services.create_pledge(current_user, campaign_id, body)

    @login_required
    @blp.arguments(PledgeListArgsSchema, location="query")
    @blp.response(200, page_of(PledgeSchema))
    @blp.alt_response(404, description="campaign_not_found")
    def get(self, args, campaign_id):
        """The pledges of a campaign you can see, newest first, with your own signature"""
        return services.list_pledges(current_user, campaign_id, args["page"], args["page_size"])


@blp.route("/pledges/<int:pledge_id>")
class PledgeDetail(MethodView):
    @login_required
    @blp.response(200, PledgeSchema)
    @blp.alt_response(404, description="pledge_not_found (also when its campaign is not visible to you)")
    def get(self, pledge_id):
        """One pledge: its text, window and your signature"""
        return services.get_pledge(current_user, pledge_id)

    @login_required
    @blp.arguments(PledgeUpdateSchema)
    @blp.response(200, PledgeSchema)
    @blp.alt_response(403, description="forbidden: region and school admins over the campaign's org only")
    @blp.alt_response(404, description="pledge_not_found")
    @blp.alt_response(409, description="pledge_content_locked: title, body, mode and requires_handwriting are "
                                       "fixed once anyone has signed; the window can still move")
    @blp.alt_response(422, description="validation_error, outside_campaign_period")
    def patch(self, body, pledge_id):
        """Correct a pledge: the fields sent change (`null` clears a window bound)"""
        return services.update_pledge(current_user, pledge_id, body)


@blp.route("/pledges/<int:pledge_id>/signatures")
class PledgeSignatures(MethodView):
    @login_required
    @blp.arguments(SignSchema)
    @blp.response(201, SignatureSchema, description="a new signature (or a guardian's co-sign that completed it)")
    @blp.alt_response(200, schema=SignatureSchema, description="the signature that already existed")
    @blp.alt_response(404, description="pledge_not_found; child_not_found (a guardian not linked to the child, "
                                       "or a child the campaign does not reach)")
    @blp.alt_response(409, description="pledge_not_open, pledge_closed, child_not_signed")
    @blp.alt_response(422, description="handwriting_required, invalid_handwriting, handwriting_not_ready, "
                                       "child_id_required, not_family_pledge, validation_error")
    def post(self, body, pledge_id):
        """Sign a pledge; signing again answers the same signature (200).

        Family mode: the student signs first (`awaiting_guardian`), then a linked guardian signs
        with `{child_id}` and the signature becomes `complete` (the recorded guardian consent)."""
        answer, created = services.sign_pledge(current_user_id(), load_current_user, pledge_id, body)
        return json_text.response(answer, 201 if created else 200)


@blp.route("/pledges/<int:pledge_id>/stats")
class PledgeStats(MethodView):
    @login_required
    @blp.arguments(PledgeStatsArgsSchema, location="query")
    @blp.response(200, PledgeStatsSchema)
    @blp.alt_response(403, description="forbidden: teachers and admins over the org only")
    @blp.alt_response(404, description="pledge_not_found, org_not_found")
    @blp.alt_response(422, description="org_outside_campaign, validation_error")
    def get(self, args, pledge_id):
        """Signed and enrolled students for an org and each child org (may lag a few seconds);
        for a class also who has not signed yet"""
        return services.pledge_stats(current_user, pledge_id, args.get("org_id"))


@blp.route("/pledges/<int:pledge_id>/signatures.xlsx")
class PledgeSignaturesExport(MethodView):
    @login_required
    @blp.arguments(SignatureExportArgsSchema, location="query")
    @blp.response(200, content_type=XLSX, description="the signature list as an Excel workbook")
    @blp.alt_response(403, description="forbidden: teachers and admins over the org only")
    @blp.alt_response(404, description="pledge_not_found, org_not_found")
    @blp.alt_response(422, description="org_outside_campaign, export_too_large (EXPORT_MAX_ROWS), validation_error")
    def get(self, args, pledge_id):
        """Export the signatures of the students in an org's subtree to Excel"""
        return xlsx_download(*services.export_signatures(current_user, pledge_id, args.get("org_id")))


@blp.route("/signatures/<int:signature_id>/revoke")
class SignatureRevoke(MethodView):
    @login_required
    @blp.arguments(SignatureRevokeSchema)
    @blp.response(200, SignatureSchema)
    @blp.alt_response(403, description="forbidden: school and region admins only")
    @blp.alt_response(404, description="signature_not_found")
    @blp.alt_response(422, description="validation_error")
    def post(self, body, signature_id):
        """Revoke a signature: its certificate then says it is no longer valid"""
        return services.revoke(current_user, signature_id, body.get("reason"))


@blp.route("/certificates/<string:serial>")
class Certificate(MethodView):
    @blp.response(200, CertificateSchema, description="JSON; a browser that asks for HTML (the QR code "
                                                         "opened by WeChat's scanner) gets the same as a Chinese page")
    @blp.alt_response(404, description="certificate_not_found")
    def get(self, serial):
        """Public verification of a certificate (no login): masked name, school, pledge, validity"""
        return certificate_response(CertificateSchema(), lambda: services.certificate(serial),
                                    lambda: services.certificate_page(serial))


@blp.route("/certificates/<string:serial>/image")
class CertificateImage(MethodView):
    @blp.response(200, content_type="image/png", description="the certificate poster")
    @blp.alt_response(404, description="certificate_not_found")
    @blp.alt_response(409, description="certificate_not_ready: a family pledge awaiting the guardian (a revoked "
                                       "one answers its poster with the revoked mark)")
    @blp.alt_response(503, description="certificate_font_missing")
    def get(self, serial):
        """The certificate poster (PNG) with a QR code that opens the verification; public"""
        return poster_response(services.certificate_image(serial))
