"""The flask-smorest `Api`, speaking the project's error shape in responses and docs."""
import marshmallow as ma
from flask_smorest import Api


class ErrorSchema(ma.Schema):
    """The one error shape. `errors` only for validation failures (422)."""

    code = ma.fields.String(required=True, metadata={"description": "stable machine code, e.g. forbidden"})
    message = ma.fields.String(required=True, metadata={"description": "Chinese message for the person"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "per-field Chinese messages"},
    )


def _without_excluded(docs: dict) -> dict:
    """flask-smorest's per-endpoint doc table minus operations marked `@blp.doc(exclude=True)`."""
    kept = {}
    for endpoint, info in docs.items():
        operations = {
            method: doc for method, doc in info.items()
            if method != "parameters" and not doc.get("manual_doc", {}).get("exclude")
        }
        if operations:
            kept[endpoint] = {**operations, "parameters": info.get("parameters")}
    return kept


class QinglangApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def register_blueprint(self, blp, **options):
        """Register as usual, but leave operations marked `@blp.doc(exclude=True)` (e.g. the docs
        UI's static files) out of the OpenAPI document. flask-smorest has no such switch and
        would copy `exclude` into the operation verbatim, which is not valid OpenAPI."""
        docs = blp._docs
        blp._docs = _without_excluded(docs)
        try:
            return super().register_blueprint(blp, **options)
        finally:
            blp._docs = docs

    def handle_http_exception(self, error):
        from app.errors import handle_http_exception

        return handle_http_exception(error)
