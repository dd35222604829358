"""Where a wrk run's CPU went, per request: the app server's processes, the database server's
processes, and how often the app's threads were switched out (read from /proc; Linux only).

A ratio says how much dearer a request is than /health; these figures say in what. On this 2-core
VM every process shares the same two cores, so a signing pays for its own Python, for the
database's work on its batch, and for the thread hand-offs its group commit and its round trip
cause (a context switch costs ~20 µs here: `perf bench sched pipe` measures ~45 µs a round trip).

Figures are summed per process over the processes alive at the end of a run: one that started
during the run counts from zero, one that ended during it is missing (its share is small: an
autovacuum worker, a pool connection closed). Nothing goes negative.
"""
from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class CpuMeter:
    """`server_group`: the process group of the app server (bench starts gunicorn in a session of
    its own). `database_server`: the pid of the PostgreSQL server (postmaster) whose processes to
    count, or None (SQLite runs inside the app; a remote server is not visible)."""

    def __init__(self, server_group: int, database_server: int | None) -> None:
        self.server_group = server_group
        self.database_server = database_server

    def snapshot(self) -> dict | None:
        """pid → (app or database, CPU ticks, context switches) for the processes measured, and
        under "machine" the whole machine's ticks (`_machine`)."""
        if not PROC.is_dir():
            return None
        found = {"machine": _machine()}
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # Fields after the command name (which may hold spaces): state ppid pgrp … utime stime.
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                ticks = int(fields[11]) + int(fields[12])
                pid, parent = int(entry.name), int(fields[1])
                if int(fields[2]) == self.server_group:
                    found[pid] = ("app", ticks, _switches(entry))
                elif self.database_server is not None and self.database_server in (pid, parent):
                    found[pid] = ("db", ticks, 0)
            except (OSError, IndexError, ValueError):  # the process ended meanwhile
                continue
        return found

    @staticmethod
    def since(before: dict | None, after: dict | None) -> dict:
        """Totals over the run: app_cpu_s, db_cpu_s, switches (the app's threads), and the
        machine's machine_busy_s, machine_idle_s, machine_steal_s."""
        if before is None or after is None:
            return {}
        app_ticks = db_ticks = switches = 0
        machine = {name: after["machine"][name] - before["machine"][name] for name in after["machine"]}
        for pid, (kind, ticks, switched) in after.items():
            if pid == "machine":
                continue
            _kind, ticks_before, switched_before = before.get(pid, (kind, 0, 0))
            if kind == "app":
                app_ticks += ticks - ticks_before
                switches += max(0, switched - switched_before)  # a thread that ended takes its count along
            else:
                db_ticks += ticks - ticks_before
        return {"app_cpu_s": app_ticks / TICKS, "db_cpu_s": db_ticks / TICKS, "switches": switches,
                **{f"machine_{name}_s": ticks / TICKS for name, ticks in machine.items()}}


def _machine() -> dict:
    """The whole machine's CPU ticks (all cores) from /proc/stat: busy (user, nice, system, irq,
    softirq), idle (idle, iowait), and steal (time the hypervisor gave this VM's cores to others)."""
    try:
        values = [int(x) for x in (PROC / "stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, IndexError, ValueError):
        return {"busy": 0, "idle": 0, "steal": 0}
    user, nice, system, idle, iowait, irq, softirq, steal = values
    return {"busy": user + nice + system + irq + softirq, "idle": idle + iowait, "steal": steal}


def database_server_pid(app) -> int | None:
    """The PostgreSQL server behind `app`, when it runs on this machine: the parent of the
    backend serving one of the app's connections (None for SQLite or a server out of sight)."""
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            return None
        backend = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.rollback()
    try:
        return int((PROC / str(backend) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def process_cpu_s(pid: int) -> float | None:
    """CPU (user and system) one process has used so far, or None when it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS
    except (OSError, IndexError, ValueError):
        return None


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
    """`per request: app … µs CPU, database … µs CPU, … app thread switches` (empty without figures)."""
    if "app_cpu_s" not in result or not result.get("requests"):
        return ""
    n = result["requests"]
    text = f"per request: app {1e6 * result['app_cpu_s'] / n:.0f} µs CPU"
    if result.get("db_cpu_s"):
        text += f", database {1e6 * result['db_cpu_s'] / n:.0f} µs CPU"
    text += f", {result['switches'] / n:.1f} app thread switches"
    if "client_cpu_s" in result:
        text += f"; wrk {1e6 * result['client_cpu_s'] / n:.0f} µs CPU"
    if "machine_busy_s" in result:
        # Busy time the run's own processes do not explain: autovacuum workers that came and went,
        # the bench itself, anything else on the machine. Idle: cores the run left unused.
        known = result["app_cpu_s"] + result.get("db_cpu_s", 0) + result.get("client_cpu_s", 0)
        other, idle, steal = result["machine_busy_s"] - known, result["machine_idle_s"], result["machine_steal_s"]
        text += (f"\n{' ' * 16}machine per request: other busy {1e6 * max(other, 0) / n:.0f} µs, "
                 f"idle {1e6 * idle / n:.0f} µs, steal {1e6 * steal / n:.0f} µs")
    return text
