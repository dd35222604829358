from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.auth.decorators import login_required
from app.family import services
from app.family.schemas import FamilyCodeSchema, FamilyLinkCreateSchema, FamilyLinkSchema

blp = Blueprint("family", __name__, url_prefix="/api/v1", description="家庭绑定（小手牵大手）")


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
    @login_required
    @blp.arguments(FamilyLinkCreateSchema)
    @blp.response(201, FamilyLinkSchema)
    @blp.alt_response(403, description="students_cannot_be_guardians")
    @blp.alt_response(404, description="family_code_not_found")
    @blp.alt_response(410, description="family_code_expired (expired or already used)")
    @blp.alt_response(422, description="validation_error or cannot_link_self")
    def post(self, body):
        """A parent binds a child with the child's family code"""
        return services.link_child(current_user, body["code"])
