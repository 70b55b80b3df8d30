#!/usr/bin/env python3
"""Claims benchmark (issue 16): clinics sending 70% eligibility lookups and 30% claim
settlements through the gateway, then every payment instruction pulled and answered,
and the ledger checked.

One run, on one machine:
  1. The floor's database (`pgbench -i -s 10`), then `healthcard all` on fresh
     PostgreSQL databases (HEALTHCARD_WORKERS=2, the rate limit out of the way); a
     policy for county 210804 and this year, the county assigned to bank BANK-P.
  2. N people with activated cards, as bench/settlement.py seeds them (one
     `card_status_changed` message a request); all enrolled for the year; a debit run
     and every instruction answered `collected`, so that every one of them is paid.
  3. The mix: `healthcard-clinic --claims-share 0.3` through the gateway for --seconds
     with --concurrency connections over four clinic tokens (H21080400001..4, each
     claim's msgid starting with its token's code), the cards in turn. Reported
     overall and per kind: throughput, p50/p90/p99/p999/max, errors.
  4. The floor, in the same run with the service idle: `pgbench -b select-only@7 -b
     tpcb-like@3` with the same client count, 2 threads, --pgbench-seconds.
  5. Payments: the bank lists every pending payment envelope (sealing the loose
     instructions), pulls each, and answers every instruction `paid` in requests of
     --answers-per-request; then `healthcard ledger check` must exit 0.

Usage:
  bench/claims.py --people 100000 --runs 3
Binaries from $CARGO_TARGET_DIR/release (`cargo build --release --bins`).
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import System, cpu_delta, cpu_seconds, http, psql_rows, sh  # noqa: E402
from settlement import (BANK, COUNTY, ENROLL_ROWS, PGBENCH_DB, Conn, busy_processes,  # noqa: E402
                        china_year, pgbench_init, policy, post_json, wait_quiet)

CLINICS = [f"H2108040000{k + 1}" for k in range(4)]


def pgbench_mix(clients, seconds):
    out = sh(["pgbench", "-b", "select-only@7", "-b", "tpcb-like@3", "-n", "-c", str(clients), "-j", "2",
              "-T", str(seconds), "-h", "127.0.0.1", "-U", "postgres", PGBENCH_DB])
    tps = float(re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out).group(1))
    lat = re.search(r"latency average = ([0-9.]+) ms", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    return {"tps": round(tps, 1), "latency_avg_ms": float(lat.group(1)) if lat else None,
            "failed": int(failed.group(1)) if failed else 0, "clients": clients, "seconds": seconds}


def pages(gw, path, token):
    items, cursor = [], None
    while True:
        q = ("&cursor=" + urllib.parse.quote(cursor)) if cursor else ""
        page = http("GET", f"{gw}{path}{q}", token)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def seed(args, system, bin_dir, run_no, year):
    gw, urls, client = system.gw, system.urls, system.client
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
    county = client("county_office", [COUNTY])
    for i in range(0, len(cards), ENROLL_ROWS):
        rows = [{"card_no": c, "year": year} for c in cards[i:i + ENROLL_ROWS]]
        status, report, _ = post_json(gw, "/api/v1/enrollments", county, rows)
        if status != 200 or report["rejected"]:
            raise RuntimeError(f"enrollments: {status}: {json.dumps(report)[:500]}")
    # Paid enrollment: a debit run, every instruction collected.
    admin, bank = system.admin, client("bank", [BANK])
    t1 = time.monotonic()
    status, run, _ = post_json(gw, "/api/v1/debit-runs", admin, {"county": COUNTY, "year": year})
    if status != 201:
        raise RuntimeError(f"debit run: {status}: {run}")
    instructions = []
    for e in pages(gw, "/api/v1/debit-envelopes?state=pending&limit=100", bank):
        instructions += http("GET", f"{gw}/api/v1/debit-envelopes/{e['envelope_id']}", bank)["instructions"]
    answers = [{"instruction_id": line["instruction_id"], "outcome": "collected", "bank_reference": f"R{n:08d}"}
               for n, line in enumerate(instructions)]
    for i in range(0, len(answers), args.answers_per_request):
        status, report, _ = post_json(gw, "/api/v1/debit-instructions/results", bank,
                                      {"results": answers[i:i + args.answers_per_request]})
        if status != 200:
            raise RuntimeError(f"debit answers: {status}: {json.dumps(report)[:500]}")
    t_debit = time.monotonic() - t1
    unpaid = psql_rows("SELECT count(*) FROM enrollments WHERE paid_at IS NULL", f"{system.db_prefix}_settlement")
    if unpaid != ["0"] or len(instructions) != args.people:
        raise RuntimeError(f"not every enrollment paid: {unpaid} unpaid, {len(instructions)} instructions")
    return cards_file, bank, {"seed_s": round(t_seed, 2), "debit_paid_s": round(t_debit, 2)}


def one_run(args, bin_dir, run_no):
    quiet_before = wait_quiet(max_s=args.wait_quiet) if args.wait_quiet else None
    started_utc = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
    pgbench_init(args.pgbench_scale)
    extra = {"HEALTHCARD_RATE_LIMIT_PER_SECOND": "1000000", "HEALTHCARD_RATE_LIMIT_BURST": "1000000"}
    with System(bin_dir, "postgres", "/var/tmp/hc-bench/claims", extra) as system:
        gw, client = system.gw, system.client
        year = china_year()
        system.admin = client("provincial_admin", [])
        http("PUT", f"{gw}/api/v1/policies/{COUNTY}/{year}", system.admin, policy(year))
        http("PUT", f"{gw}/api/v1/bank-assignments/{COUNTY}", system.admin, {"bank": BANK})
        cards_file, bank, filling = seed(args, system, bin_dir, run_no, year)
        print(f"run {run_no}: filled {json.dumps(filling)}", file=sys.stderr, flush=True)
        # Admissions are stamped to the second and must follow the activations.
        time.sleep(2)
        quiet_mix = busy_processes()[:5]
        tokens = [client("clinic", [code]) for code in CLINICS]
        cmd = [os.path.join(bin_dir, "healthcard-clinic"), "--gateway", gw, "--cards", cards_file,
               "--concurrency", str(args.concurrency), "--seconds", str(args.seconds),
               "--claims-share", str(args.claims_share)]
        cmd += [a for t, code in zip(tokens, CLINICS) for a in ("--token", t, "--institution", code)]
        cpu0 = cpu_seconds()
        mix = json.loads(sh(cmd))
        mix_cpu = cpu_delta(cpu0, cpu_seconds())
        print(f"run {run_no}: mix {json.dumps(mix)}", file=sys.stderr, flush=True)
        floor = pgbench_mix(args.concurrency, args.pgbench_seconds)
        print(f"run {run_no}: pgbench {json.dumps(floor)}", file=sys.stderr, flush=True)

        # Every payment instruction pulled and answered paid.
        t0 = time.monotonic()
        envelopes = pages(gw, "/api/v1/payment-envelopes?state=pending&limit=100", bank)
        lines = []
        for e in envelopes:
            lines += http("GET", f"{gw}/api/v1/payment-envelopes/{e['envelope_id']}", bank)["instructions"]
        paid = 0
        for i in range(0, len(lines), args.answers_per_request):
            results = [{"instruction_id": line["instruction_id"], "outcome": "paid", "bank_reference": f"P{i + n:08d}"}
                       for n, line in enumerate(lines[i:i + args.answers_per_request])]
            status, report, _ = post_json(gw, "/api/v1/payment-instructions/results", bank, {"results": results})
            if status != 200:
                raise RuntimeError(f"payment answers: {status}: {json.dumps(report)[:500]}")
            paid += report["paid"]
        t_paid = time.monotonic() - t0
        check = subprocess.run([system.binary, "ledger", "check"], env=system.env, capture_output=True, text=True)
        claims_stored = int(psql_rows("SELECT count(*) FROM claims", "hc_bench_settlement")[0])
        payments_left = int(psql_rows("SELECT count(*) FROM payment_instructions WHERE state <> 'paid'",
                                      "hc_bench_settlement")[0])
        return {"run": run_no, "people": args.people, "started_utc": started_utc, "quiet_before": quiet_before,
                "busy_at_mix": quiet_mix, "busy_after": busy_processes()[:5], "filling": filling,
                "mix": mix, "mix_cpu_s": mix_cpu, "pgbench": floor,
                "ratio_to_pgbench": round(mix["throughput_per_s"] / floor["tps"], 4),
                "payments": {"envelopes": len(envelopes), "instructions": len(lines), "paid": paid,
                             "pulled_and_answered_s": round(t_paid, 2), "claims_stored": claims_stored,
                             "instructions_not_paid": payments_left},
                "ledger_check_ok": check.returncode == 0,
                "ledger_check_out": (check.stdout + check.stderr)[-300:]}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=48,
                   help="clinic connections, and pgbench clients (the service's 5 pools of 8 connections "
                        "stay open: 40 + 48 fits PostgreSQL's max_connections 100)")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--claims-share", type=float, default=0.3)
    p.add_argument("--seed-threads", type=int, default=8)
    p.add_argument("--answers-per-request", type=int, default=5000)
    p.add_argument("--wait-quiet", type=int, default=900)
    p.add_argument("--pgbench-scale", type=int, default=10)
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
               "median_per_s": med(lambda r: r["mix"]["throughput_per_s"]),
               "median_p50_ms": med(lambda r: r["mix"]["p50_ms"]),
               "median_p99_ms": med(lambda r: r["mix"]["p99_ms"]),
               "median_p999_ms": med(lambda r: r["mix"]["p999_ms"]),
               "median_lookup_p99_ms": med(lambda r: r["mix"]["lookups"]["p99_ms"]),
               "median_claim_p99_ms": med(lambda r: r["mix"]["claims"]["p99_ms"]),
               "total_errors": sum(r["mix"]["errors"] for r in runs),
               "median_pgbench_tps": med(lambda r: r["pgbench"]["tps"]),
               "median_ratio_to_pgbench": med(lambda r: r["ratio_to_pgbench"]),
               "every_ledger_check_ok": all(r["ledger_check_ok"] for r in runs),
               "quiet_before_each_run": [r["quiet_before"] and r["quiet_before"][0] for r in runs]}
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
