"""Work that a request starts and does not wait for (refreshing a cached aggregate)."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import current_app

from app.extensions import db

log = logging.getLogger(__name__)


def run_in_background(work: Callable[[], None], *, name: str, on_exit: Callable[[], None] | None = None) -> bool:
    """Run `work()` in a daemon thread inside this app's context, with its own database session
    (removed afterwards). A failure is logged, never raised: the caller keeps serving what it had.
    `on_exit` runs once the work is over, whatever happened, also when no thread could be started.
    `work` must close over plain values, never over ORM objects of the request's session."""
    app = current_app._get_current_object()

    def target() -> None:
        try:
            with app.app_context():
                try:
                    work()
                except Exception:  # noqa: BLE001 - the stale value stands; a later request tries again
                    log.warning("background %s failed", name, exc_info=True)
                finally:
                    db.session.remove()
        finally:
            if on_exit is not None:
                on_exit()

    try:
        threading.Thread(target=target, name=name, daemon=True).start()
    except RuntimeError:  # no thread to be had
        if on_exit is not None:
            on_exit()
        return False
    return True
