#!/usr/bin/env python3
"""Settlement benchmark (issue 15): eligibility lookups through the gateway, and a
premium debit run with the bank's answers until the ledger balances.

One run, on one machine:
  1. `healthcard all` on fresh PostgreSQL databases (HEALTHCARD_WORKERS=2); a policy for
     county 210804 and this year (China's), the county assigned to bank BANK-P.
  2. Settlement is seeded with N people, each holding one activated card
     (`card_status_changed` envelopes from `healthcard-datagen card-statuses`, posted to
     settlement's message endpoint with a service token, one message a request, as
     card making sends them); timed.
  3. All N enrolled for the year through `POST /api/v1/enrollments` (10,000 rows a
     request, by card number); timed.
  4. Eligibility: `healthcard-clinic` (compiled) asks through the gateway for
     --seconds with --concurrency connections over a few clinic tokens, the cards in
     turn. Then, in the same run, the floor: `pgbench -S` on the same PostgreSQL
     (`pgbench -i -s 10`, 1,000,000 accounts, initialised before the system started),
     --pgbench-clients clients, 2 threads, 30 s. Reported: throughput, p50/p90/p99/max,
     errors, and throughput as a fraction of pgbench's TPS.
  5. Debit: `POST /api/v1/debit-runs` (clock starts), the bank pulls every pending
     envelope and answers every instruction (every 1,000th `failed`, the rest
     `collected`) in requests of --answers-per-request; the clock stops when
     `GET /api/v1/funds/210804` shows the fund pool equal to the collected total and
     `healthcard ledger check` exits 0 (the check is also timed on its own).

Usage:
  bench/settlement.py --people 100000 --runs 3
Binaries from $CARGO_TARGET_DIR/release (`cargo build --release --bins`).
"""
import argparse
import concurrent.futures
import datetime
import http.client as httpclient
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import System, cpu_delta, cpu_seconds, http, psql, sh  # noqa: E402

COUNTY = "210804"
BANK = "BANK-P"
PREMIUM = 38000
CLINICS = 4
ENROLL_ROWS = 10_000
PGBENCH_DB = "hc_bench_pgbench"


def policy(year):
    return {
        "effective_from": f"{year}-01-01",
        "levels": {
            "village": {"deductible": 10000, "ratio": 8500},
            "township": {"deductible": 10000, "ratio": 8500},
            "county": {"deductible": 30000, "ratio": 7500},
            "municipal": {"deductible": 60000, "ratio": 6000},
            "provincial": {"deductible": 100000, "ratio": 5000},
        },
        "inpatient_annual_cap": 15_000_000,
        "outpatient": {"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000},
        "chronic": {"ratio": 6000, "annual_cap": 300_000},
        "premium_per_person": PREMIUM,
        "subsidy_per_person": 61000,
    }


def china_year():
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).year


class Conn(threading.local):
    """One keep-alive HTTP connection per thread to one base URL."""

    def __init__(self, base):
        self.url = urllib.parse.urlsplit(base)
        self.conn = None

    def post(self, path, token, body):
        for attempt in range(2):
            if self.conn is None:
                self.conn = httpclient.HTTPConnection(self.url.hostname, self.url.port, timeout=600)
            try:
                self.conn.request("POST", path, body=body, headers={
                    "authorization": f"Bearer {token}", "content-type": "application/json"})
                r = self.conn.getresponse()
                data = r.read()
            except (httpclient.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if r.status != 200:
                raise RuntimeError(f"POST {path}: {r.status}: {data[:500]!r}")
            return json.loads(data)


def post_json(base, path, token, body):
    """A POST whose answer may be an error: (status, body)."""
    u = urllib.parse.urlsplit(base)
    c = httpclient.HTTPConnection(u.hostname, u.port, timeout=3600)
    data = json.dumps(body, separators=(",", ":")).encode()
    c.request("POST", path, body=data, headers={"authorization": f"Bearer {token}",
                                                 "content-type": "application/json"})
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, (json.loads(out) if out else None), len(data)


def pgbench_init(scale):
    psql(f"DROP DATABASE IF EXISTS {PGBENCH_DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {PGBENCH_DB}")
    sh(["pgbench", "-i", "-q", "-s", str(scale), "-h", "127.0.0.1", "-U", "postgres", PGBENCH_DB])
    size = psql_value(f"SELECT pg_database_size('{PGBENCH_DB}')", "postgres")
    return int(size)


def psql_value(sql, db):
    return sh(["psql", "-q", "-X", "-A", "-t", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql]).strip()


def pgbench_select(clients, seconds):
    out = sh(["pgbench", "-S", "-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-h", "127.0.0.1",
              "-U", "postgres", PGBENCH_DB])
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))
    lat = re.search(r"latency average = ([0-9.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"tps": round(tps, 1), "latency_avg_ms": float(lat.group(1)) if lat else None,
            "failed": int(failed.group(1)) if failed else 0, "clients": clients, "seconds": seconds}


BUSY_NAMES = {"cargo", "rustc", "clippy-driver", "cargo-clippy"}


def busy_processes():
    """Builds and test binaries running on the machine (the cores are shared):
    `cargo`, `rustc`, clippy, and test binaries `.../deps/api-*`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                arg0 = f.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if comm in BUSY_NAMES or "/deps/api-" in arg0:
            found.append(f"{pid} {arg0}")
    return found


def wait_quiet(poll_s=30, max_s=1200):
    """Waits until no build or test runs, polling every `poll_s` up to `max_s`; returns
    (quiet, seconds waited, what was still running)."""
    t0 = time.monotonic()
    while True:
        busy = busy_processes()
        waited = time.monotonic() - t0
        if not busy or waited >= max_s:
            return not busy, round(waited), busy[:5]
        print(f"waiting for a quiet machine: {busy[:3]}", file=sys.stderr, flush=True)
        time.sleep(poll_s)


def one_run(args, bin_dir, run_no):
    quiet_before = wait_quiet(max_s=args.wait_quiet) if args.wait_quiet else None
    started_utc = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    floor_size = pgbench_init(args.pgbench_scale)
    extra = {"HEALTHCARD_RATE_LIMIT_PER_SECOND": "1000000", "HEALTHCARD_RATE_LIMIT_BURST": "1000000"}
    with System(bin_dir, "postgres", "/var/tmp/hc-bench/settlement", extra) as system:
        gw, urls, client = system.gw, system.urls, system.client
        year = china_year()
        admin = client("provincial_admin", [])
        http("PUT", f"{gw}/api/v1/policies/{COUNTY}/{year}", admin, policy(year))
        http("PUT", f"{gw}/api/v1/bank-assignments/{COUNTY}", admin, {"bank": BANK})

        # Card holders, as card making sends them.
        statuses = os.path.join(system.data_dir, "card-statuses.ndjson")
        sh([os.path.join(bin_dir, "healthcard-datagen"), "card-statuses", "--count", str(args.people),
            "--seed", str(run_no), "--pii-key-file", os.path.join(system.data_dir, "keys", "pii.key"),
            "--out", statuses])
        with open(statuses, "rb") as f:
            lines = f.read().splitlines()
        cards = [json.loads(line)["payload"]["card_no"] for line in lines]
        cards_file = os.path.join(system.data_dir, "cards.txt")
        with open(cards_file, "w") as f:
            f.write("\n".join(cards) + "\n")
        service = client("service", [])
        inbox = Conn(urls["settlement"])
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(args.seed_threads) as pool:
            list(pool.map(lambda body: inbox.post("/internal/v1/messages", service, body), lines))
        t_seed = time.monotonic() - t0
        print(f"run {run_no}: seeded {len(lines)} card holders in {t_seed:.1f} s", file=sys.stderr, flush=True)

        # Enrollment, by card number.
        county = client("county_office", [COUNTY])
        t0 = time.monotonic()
        enrolled = 0
        for i in range(0, len(cards), ENROLL_ROWS):
            rows = [{"card_no": c, "year": year} for c in cards[i:i + ENROLL_ROWS]]
            status, report, _ = post_json(gw, "/api/v1/enrollments", county, rows)
            if status != 200 or report["rejected"]:
                raise RuntimeError(f"enrollments: {status}: {json.dumps(report)[:500]}")
            enrolled += report["enrolled"]
        t_enroll = time.monotonic() - t0
        print(f"run {run_no}: enrolled {enrolled} in {t_enroll:.1f} s", file=sys.stderr, flush=True)

        # Eligibility through the gateway.
        clinics = [client("clinic", [f"H2108040000{k + 1}"]) for k in range(CLINICS)]
        cmd = [os.path.join(bin_dir, "healthcard-clinic"), "--gateway", gw, "--cards", cards_file,
               "--concurrency", str(args.concurrency), "--seconds", str(args.seconds)]
        cmd += [a for t in clinics for a in ("--token", t)]
        cpu0 = cpu_seconds()
        lookups = json.loads(sh(cmd))
        lookup_cpu = cpu_delta(cpu0, cpu_seconds())
        print(f"run {run_no}: eligibility {json.dumps(lookups)}", file=sys.stderr, flush=True)
        sample = http("GET", f"{gw}/api/v1/eligibility?card_no={cards[0]}&purpose=bench", clinics[0])
        # The floor, in the same run, with the system idle.
        floor = pgbench_select(args.pgbench_clients, args.pgbench_seconds)
        print(f"run {run_no}: pgbench {json.dumps(floor)}", file=sys.stderr, flush=True)

        # The debit run and the bank's answers.
        bank = client("bank", [BANK])
        cpu0 = cpu_seconds()
        t0 = time.monotonic()
        status, run, _ = post_json(gw, "/api/v1/debit-runs", admin, {"county": COUNTY, "year": year})
        if status != 201:
            raise RuntimeError(f"debit run: {status}: {run}")
        t_run = time.monotonic() - t0
        envelopes = []
        cursor = None
        while True:
            q = "&cursor=" + urllib.parse.quote(cursor) if cursor else ""
            page = http("GET", f"{gw}/api/v1/debit-envelopes?state=pending&limit=100{q}", bank)
            envelopes += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        instructions = []
        for e in envelopes:
            full = http("GET", f"{gw}/api/v1/debit-envelopes/{e['envelope_id']}", bank)
            instructions += full["instructions"]
        t_pulled = time.monotonic() - t0
        answers = []
        for n, line in enumerate(instructions):
            if n % 1000 == 999:
                answers.append({"instruction_id": line["instruction_id"], "outcome": "failed",
                                "code": "insufficient_funds", "bank_reference": f"R{n:08d}"})
            else:
                answers.append({"instruction_id": line["instruction_id"], "outcome": "collected",
                                "bank_reference": f"R{n:08d}"})
        collected = sum(1 for a in answers if a["outcome"] == "collected")
        answer_calls, max_body = [], 0
        for i in range(0, len(answers), args.answers_per_request):
            t = time.monotonic()
            status, report, size = post_json(gw, "/api/v1/debit-instructions/results", bank,
                                             {"results": answers[i:i + args.answers_per_request]})
            if status != 200:
                raise RuntimeError(f"answers: {status}: {json.dumps(report)[:500]}")
            answer_calls.append(time.monotonic() - t)
            max_body = max(max_body, size)
        t_answered = time.monotonic() - t0
        expected = collected * PREMIUM
        polls = 0
        while True:
            fund = http("GET", f"{gw}/api/v1/funds/{COUNTY}?year={year}", admin)
            balances = next((y["balances"] for y in fund["years"] if y["year"] == year), {})
            polls += 1
            if balances.get("fund_pool") == expected:
                break
            time.sleep(0.05)
        t_fund = time.monotonic() - t0
        t1 = time.monotonic()
        check = subprocess.run([system.binary, "ledger", "check"], env=system.env, capture_output=True, text=True)
        t_check = time.monotonic() - t1
        t_balanced = time.monotonic() - t0
        debit_cpu = cpu_delta(cpu0, cpu_seconds())
        if check.returncode != 0:
            raise RuntimeError(f"ledger check: {check.returncode}: {check.stdout[-500:]} {check.stderr[-500:]}")
        rss = system.peak_rss_mb()
        sizes = {t: int(psql_value(f"SELECT pg_database_size('hc_bench_{t}')", "postgres"))
                 for t in ("settlement",)}
        return {"run": run_no, "people": args.people,
                "started_utc": started_utc, "quiet_before": quiet_before,
                "busy_after": busy_processes()[:5],
                "seed_s": round(t_seed, 2), "seed_per_s": round(args.people / t_seed),
                "enroll_s": round(t_enroll, 2), "enroll_per_s": round(args.people / t_enroll),
                "eligibility": lookups, "eligibility_cpu_s": lookup_cpu,
                "sample_answer": {k: sample.get(k) for k in ("eligible", "reasons", "enrolled", "paid")},
                "pgbench": floor, "pgbench_db_mb": round(floor_size / 1e6),
                "settlement_db_mb": round(sizes["settlement"] / 1e6),
                "ratio_to_pgbench": round(lookups["throughput_per_s"] / floor["tps"], 4),
                "debit": {"instructions": len(instructions), "envelopes": len(envelopes),
                          "collected": collected, "failed": len(answers) - collected,
                          "run_create_s": round(t_run, 2), "pulled_s": round(t_pulled, 2),
                          "answered_s": round(t_answered, 2), "fund_balanced_s": round(t_fund, 2),
                          "ledger_check_s": round(t_check, 2), "balanced_and_checked_s": round(t_balanced, 2),
                          "answer_requests": len(answer_calls),
                          "median_answer_request_s": round(statistics.median(answer_calls), 3),
                          "largest_answer_body_bytes": max_body, "fund_polls": polls,
                          "fund_pool": expected, "cpu_s": debit_cpu},
                "peak_rss_mb": round(rss)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--seed-threads", type=int, default=8)
    p.add_argument("--answers-per-request", type=int, default=5000,
                   help="answers per results request (JSON bodies are limited to 1 MiB)")
    p.add_argument("--wait-quiet", type=int, default=1200,
                   help="before each run, wait up to this many seconds for no cargo, rustc or test binary "
                        "to be running (0: do not wait)")
    p.add_argument("--pgbench-scale", type=int, default=10)
    p.add_argument("--pgbench-clients", type=int, default=16)
    p.add_argument("--pgbench-seconds", type=int, default=30)
    args = p.parse_args()
    bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    runs = []
    for i in range(args.runs):
        r = one_run(args, bin_dir, i + 1)
        print(json.dumps(r), flush=True)
        runs.append(r)

    def med(f):
        return statistics.median(f(r) for r in runs)

    summary = {"people": args.people, "runs": len(runs), "concurrency": args.concurrency,
               "median_eligibility_per_s": med(lambda r: r["eligibility"]["throughput_per_s"]),
               "median_p50_ms": med(lambda r: r["eligibility"]["p50_ms"]),
               "median_p99_ms": med(lambda r: r["eligibility"]["p99_ms"]),
               "total_errors": sum(r["eligibility"]["errors"] for r in runs),
               "median_pgbench_tps": med(lambda r: r["pgbench"]["tps"]),
               "median_ratio_to_pgbench": med(lambda r: r["ratio_to_pgbench"]),
               "median_seed_per_s": med(lambda r: r["seed_per_s"]),
               "median_enroll_s": med(lambda r: r["enroll_s"]),
               "median_debit_run_create_s": med(lambda r: r["debit"]["run_create_s"]),
               "median_debit_answered_s": med(lambda r: r["debit"]["answered_s"]),
               "median_debit_balanced_and_checked_s": med(lambda r: r["debit"]["balanced_and_checked_s"]),
               "median_ledger_check_s": med(lambda r: r["debit"]["ledger_check_s"]),
               "quiet_before_each_run": [r["quiet_before"] and r["quiet_before"][0] for r in runs]}
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
