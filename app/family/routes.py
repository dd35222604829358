from flask import current_app
from flask.views import MethodView
from flask_jwt_extended import get_jwt_identity, verify_jwt_in_request
from flask_limiter.util import get_remote_address

from app.api import Blueprint
from app.auth.current import current_user
from app.auth.decorators import login_required
from app.extensions import limiter
from app.family import services
from app.family.schemas import FamilyCodeSchema, FamilyLinkCreateSchema, FamilyLinkSchema, MyLinksSchema

blp = Blueprint("family", __name__, url_prefix="/api/v1", description="家庭绑定（小手牵大手）")

# Without a cap, an account could walk the code space and bind itself to other people's children;
# with many codes live, right guesses are the danger, so every attempt that links or is refused
# for its code (201, 403, 404, 410, 422 cannot_link_self) counts, per account. Only "already
# linked" (200, nothing changes) and malformed bodies do not. Reasoning: app/family/services.py.
DEFAULT_LINK_LIMIT = "10 per hour;30 per day"

_COUNTED = {201, 403, 404, 410}


def _link_limit() -> str:
    return current_app.config.get("FAMILY_LINK_RATE_LIMIT") or DEFAULT_LINK_LIMIT


def _link_key() -> str:
    try:
        verify_jwt_in_request(optional=True)
        identity = get_jwt_identity()
    except Exception:  # noqa: BLE001 - a bad token is refused by login_required with its own answer
        identity = None
    return f"user:{identity}" if identity else f"ip:{get_remote_address()}"


def _counted_attempt(response) -> bool:
    if response.status_code in _COUNTED:
        return True
    if response.status_code == 422:  # a validation error does not count; linking oneself does
        body = response.get_json(silent=True)
        return isinstance(body, dict) and body.get("code") == "cannot_link_self"
    return False


@blp.route("/me/family-code")
class MyFamilyCode(MethodView):
    @login_required
    @blp.response(200, FamilyCodeSchema)
    @blp.alt_response(403, description="not_a_student")
    def get(self):
        """A student's short code that a parent enters to bind"""
        return services.family_code(current_user)


@blp.route("/family/links")
class FamilyLinks(MethodView):
    decorators = [limiter.limit(_link_limit, key_func=_link_key, deduct_when=_counted_attempt, methods=["POST"])]

    @login_required
    @blp.response(200, MyLinksSchema)
    @blp.alt_response(401, description="unauthorized, token_expired or token_invalid")
    def get(self):
        """My family links: children I am a guardian of, and who is linked as my guardian"""
        return services.my_links(current_user)

    @login_required
    @blp.arguments(FamilyLinkCreateSchema)
    @blp.response(201, FamilyLinkSchema, description="linked")
    @blp.alt_response(200, schema=FamilyLinkSchema, description="already linked: nothing changed")
    @blp.alt_response(403, description="students_cannot_be_guardians")
    @blp.alt_response(404, description="family_code_not_found")
    @blp.alt_response(410, description="family_code_expired (expired or already used)")
    @blp.alt_response(422, description="validation_error or cannot_link_self")
    @blp.alt_response(429, description="too_many_requests: too many link attempts from this account")
    def post(self, body):
        """A parent binds a child with the child's family code"""
        answer, created = services.link_child(current_user, body["code"])
        return answer, 201 if created else 200


@blp.route("/family/links/<int:link_id>")
class FamilyLinkDetail(MethodView):
    @login_required
    @blp.response(204, description="removed")
    @blp.alt_response(404, description="family_link_not_found (also someone else's link)")
    def delete(self, link_id):
        """Remove a family link, from either side (a child removing a guardian they do not know)"""
        services.remove_link(current_user, link_id)

