"""Run calls from their own threads, released at the same moment: the races tests provoke."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.conftest import API


def released_together(calls: list[Callable[[], Any]], timeout: float = 90) -> list:
    """Each call in its own thread, all released by one barrier; their results in order. A call
    that never returns fails the test instead of hanging it."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    finished = [False] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        barrier.wait(timeout=20)
        results[index] = call()
        finished[index] = True

    threads = [threading.Thread(target=run, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert all(finished), results
    return results


def all_at_once(app, requests: list[tuple[str, str, dict]], method: str = "POST") -> list[tuple[int, dict]]:
    """Each (token, path, body) sent from its own thread and test client, released together."""
    def fire(token: str, path: str, body: dict):
        client = app.test_client()  # made before the release: the threads then only send
        kwargs = {"json": body} if method in ("POST", "PUT") else {}

        def call() -> tuple[int, dict]:
            response = client.open(API + path, method=method, headers={"Authorization": f"Bearer {token}"},
                                   **kwargs)
            return response.status_code, response.get_json()
        return call

    return released_together([fire(*r) for r in requests])
