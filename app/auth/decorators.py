"""`login_required`: a valid access token, and the OpenAPI note that says so."""
from functools import wraps

from flask_jwt_extended import verify_jwt_in_request


def login_required(fn):
    @wraps(fn)
    def wrapper(*args, **kwargs):
        verify_jwt_in_request()
        return fn(*args, **kwargs)

    # Read by flask-smorest when it builds the OpenAPI document.
    docs = wrapper.__dict__.setdefault("_apidoc", {})
    docs.setdefault("manual_doc", {}).setdefault("security", [{"bearerAuth": []}])
    return wrapper
