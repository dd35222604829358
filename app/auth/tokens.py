"""JWTManager that remembers tokens it has verified, and verifies a new one in one decode.

flask-jwt-extended decodes every token three times per request (claims without verification,
the header, then the verified decode): ~0.3 ms, as much as the rest of a small request. A
student sends the same access token with every autosave of a quiz, so each worker keeps the
verified claims of recent tokens (bounded) and, on a repeat, only checks that the token has not
expired since. A token not seen before is decoded once when no custom decode-key loader is
registered (the two unverified decodes only feed that loader); this reaches into
flask-jwt-extended's `_decode_jwt`, pinned in requirements.txt. Anything unusual (a CSRF
value, allow_expired, an expired token) goes the library's own way, so its errors and error
handlers stay as they are. PyJWT's strict segment decoding is swapped for the same rules checked
in C (`_decode_segment`), on the PyJWS object flask-jwt-extended uses (PyJWT pinned too).
"""
from __future__ import annotations

import binascii
import time

import jwt as pyjwt
import jwt.api_jws
from flask_jwt_extended import JWTManager
from flask_jwt_extended.config import config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.tokens import _decode_jwt
from jwt import ExpiredSignatureError
from jwt.algorithms import HMACAlgorithm
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

from app.common.process_cache import process_cache, remember

MAX_REMEMBERED = 20_000  # ~2 KB each: a few tens of MB per worker at most


class _CheckedOnceHMAC(HMACAlgorithm):
    """HS256 that vets each secret once. PyJWT's `prepare_key` re-checks the secret on every
    decode (trying to parse it as PEM, SSH, DER and JWK, to refuse asymmetric keys): ~15 % of
    verifying a token, for a value that never changes. The same checks still run, once per
    secret; verification itself is PyJWT's."""

    def __init__(self, hash_alg) -> None:
        super().__init__(hash_alg)
        self._prepared: dict = {}

    def prepare_key(self, key):
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)
            if len(self._prepared) < 16:  # a handful of secrets per process (tests make many apps)
                self._prepared[key] = prepared
        return prepared


# PyJWT's public registry, used by flask-jwt-extended's encode and decode.
pyjwt.unregister_algorithm("HS256")
pyjwt.register_algorithm("HS256", _CheckedOnceHMAC(HMACAlgorithm.SHA256))


def _decode_segment(segment: bytes, name: str) -> bytes:
    """PyJWT's strict decoding of one token segment (the fix for GHSA-hxm8-2xgr-2p9m: no
    characters outside base64url, at most two '=' and only on a whole quantum, canonical
    encoding), with the alphabet check done by `bytes.translate` in C. PyJWT 2.15 walks every
    character with a Python generator: ~12 µs a token read, and each request with a token not
    seen before reads it twice (the verified decode, then flask-jwt-extended's header read) —
    every pledge signing. Same answers and errors as PyJWT's own (tests/test_auth.py compares
    the two on valid and malformed segments)."""
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if (padding > 2 or (padding and len(segment) % 4 != 0) or len(stripped) % 4 == 1
            or stripped.translate(None, _BASE64URL)):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return decoded


_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# On the PyJWS object behind PyJWT's module functions (jwt.decode, jwt.get_unverified_header),
# which flask-jwt-extended calls; the class and other instances keep PyJWT's own.
pyjwt.api_jws._jws_global_obj._decode_base64url_segment = _decode_segment


class CachingJWTManager(JWTManager):
    """One instance serves every app of the process; the remembered claims are kept per app
    (each app has its own secret: `process_cache`)."""

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value=None, allow_expired: bool = False) -> dict:
        if csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        verified = process_cache("jwt_verified_claims")
        claims = verified.get(encoded_token)
        if claims is not None and claims.get("exp", 0) > time.time():
            return claims
        claims = self._decode_once(encoded_token)
        if "exp" in claims:  # tokens without expiry are not remembered
            remember(verified, encoded_token, claims, MAX_REMEMBERED)
        return claims

    def _decode_once(self, encoded_token: str) -> dict:
        if self._decode_key_callback is not default_decode_key_callback:
            return super()._decode_jwt_from_config(encoded_token)
        try:
            return _decode_jwt(
                algorithms=config.decode_algorithms, allow_expired=False, audience=config.decode_audience,
                csrf_value=None, encoded_token=encoded_token, identity_claim_key=config.identity_claim_key,
                issuer=config.decode_issuer, leeway=config.leeway, secret=config.decode_key,
                verify_aud=config.decode_audience is not None, verify_sub=config.verify_sub,
            )
        except ExpiredSignatureError:
            # The library's own path attaches the header and claims its expired-token handler reads.
            return super()._decode_jwt_from_config(encoded_token)
