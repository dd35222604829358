"""Public certificate verification as a Chinese page, for the browser that opens a QR code
(WeChat's scanner, a phone camera). The same details as the JSON answer; no login, no script."""
from __future__ import annotations

from collections.abc import Callable

from flask import Response, jsonify, render_template, request
from marshmallow import Schema

from app.errors import NotFound

PAGE_POLICY = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def wants_page() -> bool:
    """A browser asks for HTML first; the mini-program and API clients do not."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def verification_page(details: Callable[[], dict]) -> Response:
    """`details()` gives the page's `heading`, `state` (valid / invalid / waiting), `state_text`,
    `rows` [(label, value)] and optional `image_url`; NotFound from it is the "no such
    certificate" page (404)."""
    try:
        context, status = details(), 200
    except NotFound:
        context, status = {}, 404
    response = Response(render_template("verification.html", **context), status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    response.headers["Cache-Control"] = "public, max-age=30"
    response.vary.add("Accept")
    return response


def certificate_response(schema: Schema, answer: Callable[[], dict], page: Callable[[], dict]) -> Response:
    """A public certificate check (pledge or quiz): the page for a browser, else `answer()`
    dumped by `schema`; both cached briefly and varying by Accept (one URL, two answers)."""
    if wants_page():
        return verification_page(page)
    response = jsonify(schema.dump(answer()))
    response.headers["Cache-Control"] = "public, max-age=30"
    response.vary.add("Accept")
    return response


def poster_response(png: bytes) -> Response:
    """A public certificate poster (pledge or quiz), kept briefly by any cache: it shows only a
    masked name, and its serial is unguessable."""
    return Response(png, mimetype="image/png", headers={"Cache-Control": "public, max-age=60"})
