from flask import Response, url_for
from flask.views import MethodView

from app.api import Blueprint
from app.auth.current import current_user
from app.auth.decorators import login_required
from app.common.schemas import page_of
from app.orgs import services
from app.orgs.schemas import (
    AcceptedMembershipSchema,
    ChildrenArgsSchema,
    InviteAcceptSchema,
    InviteCreateSchema,
    InvitePreviewSchema,
    InviteSchema,
    OrgSchema,
)

blp = Blueprint("orgs", __name__, url_prefix="/api/v1", description="组织、邀请与加入")


@blp.route("/orgs")
class Orgs(MethodView):
    @login_required
    @blp.arguments(OrgSchema)
    @blp.response(201, OrgSchema)
    @blp.alt_response(403, description="forbidden: not an admin over the parent")
    @blp.alt_response(404, description="org_not_found: parent unknown or not visible")
    @blp.alt_response(422, description="validation_error or invalid_org_kind")
    def post(self, body):
        """Create a region, school or class under an org you administer"""
        return services.create_org(current_user, body["name"], body["kind"], body.get("parent_id"))


@blp.route("/orgs/<int:org_id>")
class OrgDetail(MethodView):
    @login_required
    @blp.response(200, OrgSchema)
    @blp.alt_response(404, description="org_not_found")
    def get(self, org_id):
        """An org you belong to, sit above, or administer"""
        return services.get_org(current_user, org_id)


@blp.route("/orgs/<int:org_id>/children")
class OrgChildren(MethodView):
    @login_required
    @blp.arguments(ChildrenArgsSchema, location="query")
    @blp.response(200, page_of(OrgSchema))
    @blp.alt_response(403, description="forbidden: staff only")
    @blp.alt_response(404, description="org_not_found")
    def get(self, args, org_id):
        """The orgs directly below one you run"""
        return services.list_children(current_user, org_id, args["page"], args["page_size"], args.get("kind"))


def _with_qrcode_url(invite):
    invite.qrcode_url = url_for("orgs.InviteQrcode", code=invite.code)
    return invite


@blp.route("/orgs/<int:org_id>/invites")
class OrgInvites(MethodView):
    @login_required
    @blp.arguments(InviteCreateSchema)
    @blp.response(201, InviteSchema)
    @blp.alt_response(403, description="forbidden or role_above_own")
    @blp.alt_response(404, description="org_not_found")
    @blp.alt_response(422, description="validation_error or role_not_allowed_here")
    def post(self, body, org_id):
        """Create an invite code that grants a role in this org"""
        invite = services.create_invite(current_user, org_id, body["role"], body.get("max_uses"),
                                        body.get("expires_in_s"))
        return _with_qrcode_url(invite)


@blp.route("/invites/<string:code>")
class InviteDetail(MethodView):
    @login_required
    @blp.response(200, InvitePreviewSchema)
    @blp.alt_response(404, description="invite_not_found")
    @blp.alt_response(410, description="invite_expired or invite_used_up")
    def get(self, code):
        """What an invite code leads to, shown before joining"""
        return services.preview_invite(code)


@blp.route("/invites/<string:code>/qrcode")
class InviteQrcode(MethodView):
    @login_required
    @blp.response(200, content_type="image/png", description="小程序码 PNG; scene = the invite code")
    @blp.alt_response(404, description="invite_not_found (or not yours to print)")
    @blp.alt_response(503, description="wechat_unavailable")
    def get(self, code):
        """The invite as a 小程序码 to print or show on screen"""
        png = services.invite_qrcode(current_user, code)
        return Response(png, mimetype="image/png", headers={"Cache-Control": "private, max-age=3600"})


@blp.route("/invites/<string:code>/accept")
class InviteAccept(MethodView):
    @login_required
    @blp.arguments(InviteAcceptSchema)
    @blp.response(201, AcceptedMembershipSchema, description="joined")
    @blp.alt_response(200, schema=AcceptedMembershipSchema, description="already a member: nothing changed")
    @blp.alt_response(404, description="invite_not_found")
    @blp.alt_response(410, description="invite_expired or invite_used_up")
    @blp.alt_response(422, description="validation_error: real_name")
    def post(self, body, code):
        """Join an org with an invite code and your real name"""
        membership, created = services.accept_invite(current_user, code, body["real_name"])
        return membership, 201 if created else 200
