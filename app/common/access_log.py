"""gunicorn's access log without the secrets some paths carry: a signed file link
(`/files/<token>`, a working download of a child's upload until it expires) and an invite code
(`/invites/<code>`, a way into a class) are logged as `…`. gunicorn.conf.py names this class as
`logger_class`; the log format itself keeps query strings out."""
from __future__ import annotations

import re

from gunicorn.glogging import Logger

_SECRET_SEGMENT = re.compile(r"(/(?:files|invites)/)[^/?]+")


def masked_path(path: str) -> str:
    return _SECRET_SEGMENT.sub(r"\1…", path)


class AccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("U", "r"):  # the path, and the request line should a format use it
            if isinstance(atoms.get(name), str):
                atoms[name] = masked_path(atoms[name])
        return atoms
