"""`make bench`: signing throughput against liveness, measured in the same run.

Starts the app as `make run` does (gunicorn with gunicorn.conf.py, its own database, storage
and port), creates a region with a few thousand students and a pledge, then drives with wrk
(Debian's package, a second process):

1. `GET /api/v1/health`                       — the ceiling of this machine and server setup
2. `POST /api/v1/pledges/{id}/signatures`     — every request a different student
   (1 and 2 alternate in BENCH_SLICES slices each, health first and last: both see the same
   drift of the host's load; 2 s of each warm the workers up first, and the signing warm-up is
   printed on its own line)
3. the quizzes of issue 5 (bench/quiz_bench.py; a 5,000-question bank, quizzes drawing 20):
   `POST /api/v1/quizzes/{id}/attempts`        — start, every request a different student
   `PUT /api/v1/attempts/{id}/answers/{qid}`    — autosave, over the attempts opened beforehand
   `POST /api/v1/attempts/{id}/submit`          — submit, each open attempt once
   then `GET /api/v1/health` again: the quiz ratios use the mean of the last health slice
   before them and this run
4. `GET /api/v1/pledges/{id}/stats`           — a region with BENCH_STATS_ROWS signatures
5. `GET /api/v1/quizzes/{id}/leaderboard`     — a city with BENCH_LEADERBOARD_ROWS attempts and
   as many best rows, seen by a student from the middle of the table, at 1 and 32 connections;
   then `GET /api/v1/quizzes/{id}/stats` for the city over the same attempts at 1 connection
   (the first request counts, the rest are shared for QUIZ_STATS_CACHE_S)

and prints requests/s, p50/p99, errors and the ratio to health; below each run, what one request
cost: CPU of the app server's processes and of a local PostgreSQL, and the app's thread switches,
then the machine's busy time that none of the run's processes explains, its idle and its steal
(bench/cpu_meter.py, from /proc). Absolute numbers on a shared machine are noise; the ratio
holds. Targets (issue 4): ratio ≥ 0.50, 0 errors, p99 < 100 ms at 32 connections; stats p95 <
50 ms. Issue 5: start ≥ 0.30, autosave ≥ 0.50, submit ≥ 0.30, leaderboard with 1 M attempts p95
< 50 ms.

Environment: BENCH_DATABASE_URL (default a fresh SQLite file, as `make run`), BENCH_PORT
(8765), BENCH_STUDENTS (20000), BENCH_DURATION_S (10), BENCH_CONNECTIONS (32),
BENCH_STATS_ROWS (1000000; 0 skips step 4), BENCH_QUIZ (1; 0 skips steps 3 and 5),
BENCH_LEADERBOARD_ROWS (1000000; 0 skips step 5; reuses the students step 4 enrolled),
BENCH_LEADERBOARD_DURATION_S (max(BENCH_DURATION_S, 20): longer than the app's 15 s ranking cache),
BENCH_SLICES (3), BENCH_SQLITE_WAL=1 (put the SQLite file in WAL mode), BENCH_REDIS_URL (the
app's REDIS_URL, as deployed: the workers then share cached counts; without it, none).

wrk's latency percentiles are corrected for coordinated omission (a stalled request counts
as the requests a steady client would have sent meanwhile), so one long stall shows in p99.
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import quiz_bench
from cpu_meter import CpuMeter, database_server_pid, per_request, process_cpu_s

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
LUA = ROOT / "bench" / "wrk.lua"
CLASS_SIZE = 45


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def log(message: str) -> None:
    print(message, flush=True)


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the app did not answer at {url}")


# Set by main once the server runs: every wrk run then also reports the CPU it cost (cpu_meter.py).
METER: CpuMeter | None = None


def wrk(base: str, mode: str, path: str, tokens: Path | None, duration: int, connections: int,
        first: int = 0) -> dict:
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "5s", "-s", str(LUA),
               base + path, "--", mode, path, str(tokens or ""), str(first)]
    client = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,  # noqa: S603
                              env={**os.environ, "WRK_THREADS": "1"})
    # wrk.lua says "ready" once it has read and formatted its requests; the measured run starts then.
    lines = []
    while (line := client.stdout.readline()) and line.strip() != "ready":
        lines.append(line)
    client_at_start = process_cpu_s(client.pid)
    before = METER.snapshot() if METER else None
    rest, errors = client.communicate()
    if client.returncode:
        raise subprocess.CalledProcessError(client.returncode, command, rest, errors)
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = [x for x in [*lines, *rest.splitlines()] if x.startswith("{")][-1]
    result = json.loads(line)
    # wrk shares the two cores with the server: what it spends per request during the run is shown too
    result["client_cpu_s"] = (client_after.ru_utime + client_after.ru_stime
                              - client_before.ru_utime - client_before.ru_stime - (client_at_start or 0))
    if METER:
        result.update(CpuMeter.since(before, METER.snapshot()))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = (result["non_2xx"] + result["connect_errors"] + result["read_errors"]
                        + result["write_errors"] + result["timeouts"])
    return result


def combined(runs: list[dict]) -> dict:
    """Several wrk runs as one: counts and time added up; each percentile the worst of the runs
    (no run's tail is averaged away)."""
    total = {key: sum(run[key] for run in runs) for key in runs[0]
             if not key.startswith("p") and key not in ("max_us", "rps", "slices")}
    total.update({key: max(run[key] for run in runs) for key in ("p50_us", "p95_us", "p99_us", "max_us")})
    total["slices"] = [{"p99_us": run["p99_us"], "app_us": 1e6 * run.get("app_cpu_s", 0) / max(run["requests"], 1)}
                       for run in runs]
    total["rps"] = total["requests"] / (total["duration_us"] / 1e6)
    return total


def interleaved(base: str, path: str, tokens: Path, duration: int, connections: int,
                slices: int) -> tuple[dict, dict, dict, dict]:
    """Health and signing in alternating slices, health first and last (H S H S … H), each step
    about `duration` seconds in all: the host's load drifts over tens of seconds on a shared machine
    (health alone varied 2,700–3,400 req/s between runs), and slices put both steps under the
    same drift. Before them, 2 s of signing warm both workers up, as 2 s of health did: a worker's
    first signings are cold (its writer connections are opened, their PostgreSQL backends read the
    catalogue and plan the batch statement for the first time). Without it the first signing
    slice's p99 was 158 ms against 54 and 61 ms for the others of the same run; the warm-up's own
    figures are printed, not hidden. Returns (all health slices, all signing slices, the last
    health slice, the warm-up)."""
    step = max(1, round(duration / slices))  # wrk takes whole seconds
    def pause() -> None:  # the server closes the last slice's connections before the next opens its own
        time.sleep(1)

    warm_up = wrk(base, "sign", path, tokens, 2, connections)
    pause()
    health, signing = [], [warm_up]
    for _slice in range(slices):
        health.append(wrk(base, "get", "/api/v1/health", None, step, connections))
        pause()
        # Each slice signs with students not seen before: past the answered requests and the one
        # each connection may have had in flight when its slice ended.
        used = sum(run["requests"] for run in signing) + len(signing) * connections
        signing.append(wrk(base, "sign", path, tokens, step, connections, first=used))
        pause()
    health.append(wrk(base, "get", "/api/v1/health", None, step, connections))
    return combined(health), combined(signing[1:]), health[-1], warm_up


def warm_all_workers(base: str, path: str, token: str, connections: int) -> None:
    """Fill every worker's caches before a measured run. Sequential requests may all reach the
    same worker; a short run over all connections reaches the others too, so the measured runs
    see steady state (cold costs are measured and printed separately)."""
    subprocess.run(["wrk", "-t1", f"-c{connections}", "-d3s", "--timeout", "30s", base + path,  # noqa: S603, S607
                    "-H", "Authorization: Bearer " + token], capture_output=True, check=True)


def show(name: str, r: dict, extra: str = "") -> str:
    """One line of figures (then `extra`), and below it the CPU per request when measured."""
    return (f"{name:<16} {r['rps']:8.1f} req/s  p50 {r['p50_us'] / 1000:6.1f} ms  p95 {r['p95_us'] / 1000:6.1f} ms  "
            f"p99 {r['p99_us'] / 1000:6.1f} ms  requests {r['requests']}  errors {r['errors']}"
            + (f" (non-2xx {r['non_2xx']}, timeouts {r['timeouts']}, socket {r['connect_errors'] + r['read_errors']})"
               if r["errors"] else "")
            + extra
            + (f"\n{' ' * 16}per slice: p99 " + ", ".join(f"{run['p99_us'] / 1000:.0f}" for run in r["slices"])
               + " ms; app CPU " + ", ".join(f"{run['app_us']:.0f}" for run in r["slices"]) + " µs a request"
               if len(r.get("slices", ())) > 1 else "")
            + (f"\n{' ' * 16}{per_request(r)}" if per_request(r) else ""))


def seed(students: int) -> dict:
    """A city → 2 districts → schools → classes of students, a campaign and two pledges."""
    from flask_jwt_extended import create_access_token
    from sqlalchemy import insert, select

    from app import create_app
    from app.auth.models import User
    from app.campaigns.models import Campaign
    from app.extensions import db
    from app.orgs.models import Membership
    from app.orgs.services import add_org
    from app.pledges.models import Pledge

    app = create_app()
    with app.app_context():
        db.create_all()  # the pledge tables, until their migration exists
        city = add_org("基准市", "region", None)
        admin = User(username=f"bench_admin_{int(time.time())}", real_name="基准管理员")
        db.session.add(admin)
        db.session.flush()
        db.session.add(Membership(user_id=admin.id, org_id=city.id, role="region_admin"))
        classes = []
        for d in range(2):
            district = add_org(f"基准区{d + 1}", "region", city)
            for s in range(max(1, students // (CLASS_SIZE * 8) // 2)):
                school = add_org(f"基准学校{d + 1}-{s + 1}", "school", district)
                classes += [add_org(f"{c + 1}班", "class", school) for c in range(8)]
        campaign = Campaign(org_id=city.id, title="基准活动", phases=[])
        db.session.add(campaign)
        db.session.flush()
        signing = Pledge(campaign_id=campaign.id, title="全国青少年网络文明公约", body="……", mode="individual")
        loaded = Pledge(campaign_id=campaign.id, title="文明上网倡议书", body="……", mode="individual")
        db.session.add_all([signing, loaded])
        db.session.commit()
        first = db.session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) + 1
        stamp = int(time.time())
        db.session.execute(insert(User), [{"openid": f"bench_{stamp}_{i}", "real_name": "基准同学"}
                                          for i in range(students)])
        ids = list(db.session.scalars(select(User.id).where(User.id >= first).order_by(User.id)))
        db.session.execute(insert(Membership), [{"user_id": uid, "org_id": classes[i % len(classes)].id,
                                                 "role": "student"} for i, uid in enumerate(ids)])
        db.session.commit()
        tokens = [create_access_token(identity=str(uid)) for uid in ids]
        return {"app": app, "city": city.id, "signing": signing.id, "loaded": loaded.id,
                "admin_token": create_access_token(identity=str(admin.id)), "tokens": tokens,
                "classes": [(k.id, k.path) for k in classes]}


def load_signatures(app, pledge_id: int, classes: list[tuple[int, str]], rows: int) -> float:
    """`rows` students with a complete signature each (bulk insert); returns seconds taken."""
    from sqlalchemy import insert, select

    from app.auth.models import User
    from app.common.time import utcnow
    from app.extensions import db
    from app.orgs.models import Membership
    from app.orgs.services import INVITE_ALPHABET, random_code
    from app.pledges.models import Signature

    started = time.monotonic()
    batch = 50_000
    with app.app_context():
        now = utcnow()
        stamp = int(time.time())
        for offset in range(0, rows, batch):
            n = min(batch, rows - offset)
            first = (db.session.scalar(select(User.id).order_by(User.id.desc()).limit(1)) or 0) + 1
            db.session.execute(insert(User), [{"openid": f"load_{stamp}_{offset + i}"} for i in range(n)])
            ids = list(db.session.scalars(select(User.id).where(User.id >= first).order_by(User.id)))
            db.session.execute(insert(Membership), [
                {"user_id": uid, "org_id": classes[(offset + i) % len(classes)][0], "role": "student"}
                for i, uid in enumerate(ids)])
            db.session.execute(insert(Signature), [
                {"pledge_id": pledge_id, "user_id": uid, "serial": random_code(20, INVITE_ALPHABET),
                 "status": "complete", "signed_at": now, "completed_at": now, "revoked": False,
                 "class_id": classes[(offset + i) % len(classes)][0],
                 "class_path": classes[(offset + i) % len(classes)][1]}
                for i, uid in enumerate(ids)])
            db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        else:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
    return time.monotonic() - started


def signing_batches(app, pledge_id: int) -> str:
    """Group commit at work: the signings of one batch share their `signed_at`."""
    with app.app_context():
        from sqlalchemy import distinct, func, select

        from app.extensions import db
        from app.pledges.models import Signature

        rows, batches = db.session.execute(
            select(func.count(), func.count(distinct(Signature.signed_at))).where(Signature.pledge_id == pledge_id)
        ).one()
    return f"(group commit: {rows} signatures in {batches} statements, {rows / max(batches, 1):.1f} per statement)"


def cold_stats_ms(app, pledge_id: int, org_id: int) -> list[float]:
    from app.extensions import db
    from app.orgs.models import Org
    from app.pledges import services
    from app.pledges.models import Pledge

    timings = []
    with app.app_context():
        pledge = db.session.get(Pledge, pledge_id)
        org = db.session.get(Org, org_id)
        for _ in range(5):
            started = time.perf_counter()
            services._count(pledge, org, org.path)
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def run_quiz(base: str, world: dict, quiz_id: int, warm_quiz_id: int, tokens: Path, work: Path, duration: int,
             connections: int, health_before: dict) -> None:
    """Start (a different student per request), then autosave and submit over open attempts."""
    app = world["app"]
    # Each worker loads the bank's draw pool and question texts once (per bank revision); a short
    # run on another quiz of the same bank does that, so the measured run sees steady state.
    wrk(base, "sign", f"/api/v1/quizzes/{warm_quiz_id}/attempts", tokens, 2, connections)
    start = wrk(base, "sign", f"/api/v1/quizzes/{quiz_id}/attempts", tokens, duration, connections)
    time.sleep(1)  # requests wrk left queued in the server finish
    quiz_bench.top_up_open_attempts(app, quiz_id, len(world["tokens"]))
    saves, submits, listed = quiz_bench.request_lists(app, quiz_id, work)
    autosave = wrk(base, "list", "/api/v1/health", saves, duration, connections)
    submit = wrk(base, "list", "/api/v1/health", submits, duration, connections)
    scored = quiz_bench.counts(app, quiz_id).get("scored", 0)
    health = wrk(base, "get", "/api/v1/health", None, duration, connections)
    ceiling = (health_before["rps"] + health["rps"]) / 2
    log("")
    log(show("start", start, f"  new {start['created']}  resumed {start['ok']}"))
    log(show("autosave", autosave, f"  over {listed} open attempts"))
    log(show("submit", submit, f"  scored {scored}"))
    log(show("health", health))
    targets = {"start": (start, 0.30), "autosave": (autosave, 0.50), "submit": (submit, 0.30)}
    for name, (result, target) in targets.items():
        ratio = result["rps"] / ceiling
        log(f"RATIO quiz {name} / health = {ratio:.2f}  (target >= {target:.2f}: "
            f"{'met' if ratio >= target else 'NOT met'})")
    log(f"(health ceiling for the quiz ratios: mean of {health_before['rps']:.0f} and {health['rps']:.0f} req/s)")
    if start["ok"]:
        log(f"note: {start['ok']} starts resumed an open attempt (students ran out); raise BENCH_STUDENTS")
    if submit["requests"] > listed:
        log(f"note: {submit['requests'] - listed} submits repeated an already scored attempt; raise BENCH_STUDENTS")


def run_leaderboard(base: str, world: dict, quiz_id: int, first_student: int, rows: int, work: Path,
                    duration: int, connections: int) -> None:
    log(f"\nbench: loading {rows} quiz attempts and best rows …")
    loaded = quiz_bench.load_leaderboard(world["app"], quiz_id, world["classes"], rows, first_student)
    log(f"bench: {loaded['rows']} best rows loaded in {loaded['seconds']:.0f} s "
        f"(of which {loaded['students_s']:.0f} s enrolling students)")
    viewer = work / "viewer.txt"
    viewer.write_text(loaded["token"] + "\n")
    path = f"/api/v1/quizzes/{quiz_id}/leaderboard"
    first = []
    for _ in range(4):  # the first request fills one worker's caches (ranks, totals, org table)
        request = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + loaded["token"]})  # noqa: S310
        started = time.perf_counter()
        urllib.request.urlopen(request, timeout=60).read()  # noqa: S310 - loopback
        first.append((time.perf_counter() - started) * 1000)
    warm_all_workers(base, path, loaded["token"], connections)
    # Longer than the 15 s the app keeps a subtree's totals and rank samples: the runs include a refill.
    seconds = env_int("BENCH_LEADERBOARD_DURATION_S", max(duration, 20))
    one = wrk(base, "get", path, viewer, seconds, 1)
    many = wrk(base, "get", path, viewer, seconds, connections)
    log(show("leaderboard c=1", one, f"  ({seconds} s)"))
    log(show(f"leaderboard c={connections}", many, f"  ({seconds} s)"))
    log(f"leaderboard first requests (caches cold, then warm): {', '.join(f'{t:.0f}' for t in first)} ms; "
        f"p95 target < 50 ms: {'met' if one['p95_us'] < 50_000 else 'NOT met'} at c=1, "
        f"{'met' if many['p95_us'] < 50_000 else 'NOT met'} at c={connections}")
    # The city's item statistics over the same million attempts: counted once, then shared.
    stats_path = f"/api/v1/quizzes/{quiz_id}/stats"
    admin = work / "admin.txt"
    admin.write_text(world["admin_token"] + "\n")
    request = urllib.request.Request(base + stats_path, headers={"Authorization": "Bearer " + world["admin_token"]})  # noqa: S310
    started = time.perf_counter()
    urllib.request.urlopen(request, timeout=120).read()  # noqa: S310 - loopback
    counted = (time.perf_counter() - started) * 1000
    warm_all_workers(base, stats_path, world["admin_token"], connections)
    stats = wrk(base, "get", stats_path, admin, duration, 1)
    log(show("quiz stats c=1", stats, f"  (the city, {loaded['rows']} attempts; the first request, counting: "
                                      f"{counted:.0f} ms)"))


def main() -> int:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    port = env_int("BENCH_PORT", 8765)
    students = env_int("BENCH_STUDENTS", 20000)
    duration = env_int("BENCH_DURATION_S", 10)
    connections = env_int("BENCH_CONNECTIONS", 32)
    stats_rows = env_int("BENCH_STATS_ROWS", 1_000_000)
    quiz = os.environ.get("BENCH_QUIZ", "1") != "0"
    leaderboard_rows = env_int("BENCH_LEADERBOARD_ROWS", 1_000_000) if quiz else 0
    work = Path(tempfile.mkdtemp(prefix="qinglang-bench-"))
    database = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{work / 'bench.db'}"
    os.environ.update({"DATABASE_URL": database, "STORAGE_URL": f"file://{work / 'storage'}", "PORT": str(port),
                       "APP_ENV": os.environ.get("APP_ENV", "development"), "GUNICORN_ACCESS_LOG": "-",
                       "CACHE_KEY_PREFIX": f"bench-{work.name}"})  # no cached counts from an earlier run
    # Shared caches (progress counts, leaderboard aggregates) as deployed: through Redis when given.
    os.environ.pop("REDIS_URL", None)
    if os.environ.get("BENCH_REDIS_URL"):
        os.environ["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    # wrk opens its keep-alive connections at once and one worker may accept them all (measured: the
    # same health run gave 3,800 or 1,600 req/s by that luck alone). A cap per worker spreads them;
    # the threads' share on top keeps gunicorn from closing kept-alive connections.
    workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
    threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # as gunicorn.conf.py
    os.environ.setdefault("GUNICORN_WORKER_CONNECTIONS", str(-(-connections // workers) + threads))
    sys.path.insert(0, str(ROOT))
    log(f"bench: database {database.split('@')[-1]}, Redis {os.environ.get('REDIS_URL') or 'none'}, work dir {work}")

    subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,  # noqa: S603
                   capture_output=True)
    started = time.monotonic()
    world = seed(students)
    log(f"bench: {students} students in {len(world['classes'])} classes seeded in {time.monotonic() - started:.1f} s")
    with world["app"].app_context():
        from sqlalchemy import func, select

        from app.auth.models import User
        from app.extensions import db

        first_loaded = db.session.scalar(select(func.max(User.id))) + 1  # students enrolled by later loads
    if quiz:
        started = time.monotonic()
        quizzes = quiz_bench.setup(world["app"], world["city"])
        log(f"bench: {quiz_bench.BANK_SIZE}-question bank and quizzes {quizzes} in {time.monotonic() - started:.1f} s")
    if os.environ.get("BENCH_SQLITE_WAL") == "1" and database.startswith("sqlite"):
        # Experiment: WAL is a property of the database file, so the app's connections use it too.
        import sqlite3

        with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        log("bench: SQLite in WAL mode (BENCH_SQLITE_WAL=1)")
    tokens = work / "tokens.txt"
    tokens.write_text("\n".join(world["tokens"]) + "\n")

    server_log = open(work / "gunicorn.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],  # noqa: S603
                              cwd=ROOT,
                              stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    global METER
    METER = CpuMeter(server.pid, database_server=database_server_pid(world["app"]))
    try:
        wait_for(base + "/api/v1/health")
        wrk(base, "get", "/api/v1/health", None, 2, connections)  # warm-up
        slices = env_int("BENCH_SLICES", 3)
        signing_path = f"/api/v1/pledges/{world['signing']}/signatures"
        health, signing, health_after, warm_up = interleaved(base, signing_path, tokens, duration, connections, slices)
        ratio = signing["rps"] / health["rps"]
        log("")
        log(f"(health and signing alternate in {slices} slices each, health first and last; "
            "percentiles: the worst slice's)")
        log(show("health", health))
        log(show("signing", signing, f"  new {signing['created']}  again {signing['ok']}"))
        log(show("(warm-up)", warm_up, "  the first signings of fresh workers, not in the ratio"))
        log(f"RATIO signing / health = {ratio:.2f}  (target >= 0.50; p99 target < 100 ms, 0 errors)")
        log(signing_batches(world["app"], world["signing"]))
        if signing["ok"]:
            log(f"note: {signing['ok']} requests re-signed (students ran out); raise BENCH_STUDENTS")
        if quiz:
            run_quiz(base, world, quizzes["live"], quizzes["warm"], tokens, work, duration, connections, health_after)

        if stats_rows:
            log(f"\nbench: loading {stats_rows} signatures into a second pledge …")
            took = load_signatures(world["app"], world["loaded"], world["classes"], stats_rows)
            log(f"bench: loaded in {took:.0f} s")
            cold = cold_stats_ms(world["app"], world["loaded"], world["city"])
            admin_tokens = work / "admin.txt"
            admin_tokens.write_text(world["admin_token"] + "\n")
            stats_path = f"/api/v1/pledges/{world['loaded']}/stats"
            warm_all_workers(base, stats_path, world["admin_token"], connections)  # the cold count is measured above
            one = wrk(base, "get", stats_path, admin_tokens, duration, 1)
            stats = wrk(base, "get", stats_path, admin_tokens, duration, connections)
            log(show("stats c=1", one))
            log(show(f"stats c={connections}", stats))
            log(f"stats uncached count (the GROUP BYs behind a cache miss): median {statistics.median(cold):.0f} ms "
                f"over {len(cold)} runs; p95 target < 50 ms")
        if leaderboard_rows:
            run_leaderboard(base, world, quizzes["loaded"], first_loaded, leaderboard_rows, work, duration,
                            connections)
        return 0
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server_log.close()


if __name__ == "__main__":
    sys.exit(main())
