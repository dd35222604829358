"""Absolute URLs handed to the world: certificate QR codes, links WeChat fetches."""
from __future__ import annotations

from flask import current_app, has_request_context, request


def public_url(path: str) -> str:
    """`PUBLIC_BASE_URL` + `path`. Production refuses to start without the setting
    (config.ProductionConfig): the request's Host header is the caller's to choose, and a public,
    cached poster whose QR code came from it would send parents wherever the caller liked.
    Development and tests fall back to the request's host (localhost outside a request)."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if not base and has_request_context():
        base = request.host_url
    return (base or "http://localhost").rstrip("/") + path
