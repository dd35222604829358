"""Liveness and the docs UI's static assets. Nothing here touches the database."""
from flask import Blueprint as FlaskBlueprint
from flask import send_from_directory
from flask.views import MethodView
from marshmallow import fields
from swagger_ui_bundle import swagger_ui_path

from app.api import Blueprint
from app.common.schemas import BaseSchema

blp = Blueprint("health", __name__, url_prefix="/api/v1", description="服务状态")


class HealthSchema(BaseSchema):
    status = fields.String()


@blp.route("/health")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """Liveness: answers without touching the database"""
        return {"status": "ok"}


# A plain Flask blueprint: static files are not part of the API document.
docs_assets = FlaskBlueprint("docs_assets", __name__, url_prefix="/api/v1/docs/assets")


@docs_assets.get("/<path:filename>")
def docs_asset(filename):
    """Swagger UI files, served from the swagger-ui-bundle package (no CDN)."""
    return send_from_directory(swagger_ui_path, filename, max_age=86400)
