"""Where a wrk run's CPU went, per request: the app server's processes, the database server's
processes, and how often the app's threads were switched out (read from /proc; Linux only).

A ratio says how much dearer a request is than /health; these figures say in what. On this 2-core
VM every process shares the same two cores, so a signing pays for its own Python, for the
database's work on its batch, and for the thread hand-offs its group commit and its round trip
cause (a context switch costs ~20 µs here: `perf bench sched pipe` measures ~45 µs a round trip).
"""
from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuMeter:
    """Snapshots of CPU time (user + system) and context switches. `server_group` is the process
    group of the app server (bench starts gunicorn in a session of its own); database processes
    are the local PostgreSQL server's (`postgres:` in their command line), when `local_database`."""

    def __init__(self, server_group: int, local_database: bool) -> None:
        self.server_group = server_group
        self.local_database = local_database

    def snapshot(self) -> dict | None:
        if not PROC.is_dir():
            return None
        app_ticks = database_ticks = switches = 0
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # Fields after the command name (which may hold spaces): state ppid pgrp … utime stime.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])
                if int(fields[2]) == self.server_group:
                    app_ticks += ticks
                    switches += _switches(entry)
                elif self.local_database and (entry / "cmdline").read_bytes().startswith(b"postgres"):
                    database_ticks += ticks
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
        return {"app_cpu_s": app_ticks / TICKS, "db_cpu_s": database_ticks / TICKS, "switches": switches}

    @staticmethod
    def since(before: dict | None, after: dict | None) -> dict:
        if before is None or after is None:
            return {}
        return {key: after[key] - before[key] for key in before}


def _switches(process: Path) -> int:
    """Voluntary and involuntary context switches of every thread of a process."""
    total = 0
    for task in (process / "task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches:" in line:  # voluntary_ctxt_switches, nonvoluntary_ctxt_switches
                    total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total


def per_request(result: dict) -> str:
    """`  per request: app … µs CPU, database … µs CPU, … thread switches` (empty without figures)."""
    if "app_cpu_s" not in result or not result.get("requests"):
        return ""
    n = result["requests"]
    text = f"  per request: app {1e6 * result['app_cpu_s'] / n:.0f} µs CPU"
    if result.get("db_cpu_s"):
        text += f", database {1e6 * result['db_cpu_s'] / n:.0f} µs CPU"
    return text + f", {result['switches'] / n:.1f} app thread switches"
