"""JWTManager that remembers tokens it has verified.

flask-jwt-extended decodes every token three times per request (claims without verification,
the header, then the verified decode): ~0.3 ms, as much as the rest of a small request. A
student sends the same access token with every autosave of a quiz, so each worker keeps the
verified claims of recent tokens (bounded) and, on a repeat, only checks that the token has not
expired since. Anything unusual (CSRF value, allow_expired, a failed or expired decode) goes
the library's own way, so its errors and error handlers stay as they are.
"""
from __future__ import annotations

import time

from flask_jwt_extended import JWTManager

MAX_REMEMBERED = 20_000  # ~2 KB each: a few tens of MB per worker at most


class CachingJWTManager(JWTManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._verified: dict[str, dict] = {}

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        claims = self._verified.get(encoded_token)
        if claims is not None and claims.get("exp", 0) > time.time():
            return claims
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)  # raises when invalid
        if "exp" in claims:  # tokens without expiry are not remembered
            if len(self._verified) >= MAX_REMEMBERED:
                self._verified.clear()
            self._verified[encoded_token] = claims
        return claims
