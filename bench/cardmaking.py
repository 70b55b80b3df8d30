#!/usr/bin/env python3
"""Card-making benchmark (issue: provincial registration, card makers' handoff).

One run, on one machine:
  1. `healthcard all` on fresh PostgreSQL databases; every county of the data is
     assigned to one card maker, BANK-A.
  2. The order queue is filled with N registrations as collection sends them
     (`registration_requested` envelopes from `healthcard-datagen registrations`,
     posted to card making's message endpoint with a service token); timed apart.
  3. Four card-maker clients of BANK-A (healthcard-cardmaker, compiled) lease LEASE
     orders at a time, concurrently, and answer every order of each lease (2% `failed`, the rest `produced` with a unique
     Luhn-valid PAN) until the queue is empty. Measured: from the first lease to the
     last answer, orders/s; orders handed to two clients; orders lost (leased or
     answered fewer than N, and, in the database, orders not `produced` or `failed`).

Usage:
  bench/cardmaking.py --orders 1000000 --runs 3
Binaries from $CARGO_TARGET_DIR/release (`cargo build --release --bins`).
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import System, cpu_delta, cpu_seconds, http, psql, psql_rows, sh  # noqa: E402

COUNTIES = ["210802", "210803", "210804", "210811", "210881", "210882"]
CLIENTS = 4
LEASE = 5000
FAILURE_CODES = ["bank_kyc_failed", "bad_address", "bad_photo", "duplicate_account", "chip_write_error", "other"]


def luhn_digit(body):
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def pan(client, n):
    body = f"62220{client}{n:012d}"
    return body + luhn_digit(body)


def post_raw(url, token, body_bytes):
    req = urllib.request.Request(url, data=body_bytes, method="POST")
    req.add_header("authorization", f"Bearer {token}")
    req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


STATEMENTS = """SELECT round(total_exec_time::numeric / 1000, 1) AS s, calls, rows, d.datname,
    left(regexp_replace(query, '\\s+', ' ', 'g'), 150) AS query
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid ORDER BY total_exec_time DESC LIMIT 15"""


def costliest_statements(phase):
    """Prints PostgreSQL's costliest statements since the last reset, then resets."""
    print(f"-- {phase}", file=sys.stderr)
    print(psql(STATEMENTS, "hc_bench_cardmaking"), file=sys.stderr)
    psql("SELECT pg_stat_statements_reset()", "hc_bench_cardmaking")


def one_run(args, bin_dir, run_no):
    with System(bin_dir, "postgres", "/var/tmp/hc-bench/cards") as system:
        gw, urls, client = system.gw, system.urls, system.client
        admin = client("provincial_admin", [])
        for county in COUNTIES:
            http("PUT", f"{gw}/api/v1/card-assignments/{county}", admin, {"card_maker": "BANK-A"})

        # Fill the queue as collection would.
        regs = os.path.join(system.data_dir, "registrations.ndjson")
        sh([os.path.join(bin_dir, "healthcard-datagen"), "registrations", "--count", str(args.orders),
            "--seed", str(run_no), "--pii-key-file", os.path.join(system.data_dir, "keys", "pii.key"), "--out", regs])
        service = client("service", [])
        if args.statements:
            psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "hc_bench_cardmaking")
            psql("SELECT pg_stat_statements_reset()", "hc_bench_cardmaking")
        t0 = time.monotonic()
        with open(regs, "rb") as f, concurrent.futures.ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda line: post_raw(f"{urls['cardmaking']}/internal/v1/messages", service, line), f))
        t_seed = time.monotonic() - t0
        print(f"seeded {args.orders} orders in {t_seed:.1f} s", file=sys.stderr, flush=True)

        makers = [client("card_maker", ["BANK-A"]) for _ in range(CLIENTS)]
        # The card makers' side is compiled (healthcard-cardmaker): Python clients took
        # a tenth of the machine's CPU away from the system being measured.
        cmd = [os.path.join(bin_dir, "healthcard-cardmaker"), "--gateway", gw, "--lease", str(LEASE),
               "--fail-every", "50"] + [a for t in makers for a in ("--token", t)]

        if args.statements:
            costliest_statements("filling the queue")
        cpu0 = cpu_seconds()
        t0 = time.monotonic()
        sim = json.loads(sh(cmd))
        t_cards = time.monotonic() - t0
        cpu = cpu_delta(cpu0, cpu_seconds())
        if args.statements:
            costliest_statements("card phase")
        rss = system.peak_rss_mb()
        lease_times = [t for _, t in sorted(sim["lease_calls"])]
        tenth = max(1, len(lease_times) // 10)
        twice = sim["handed_to_two_clients"]
        counts = dict(
            line.split("|") for line in psql_rows(
                "SELECT state, count(*) FROM card_orders GROUP BY state", "hc_bench_cardmaking"))
        counts = {k: int(v) for k, v in counts.items()}
        lost = args.orders - counts.get("produced", 0) - counts.get("failed", 0)
        return {"run": run_no, "orders": args.orders, "seed_s": round(t_seed, 2),
                "seed_orders_per_s": round(args.orders / t_seed), "cards_s": round(t_cards, 2),
                "orders_per_s": round(args.orders / t_cards), "answered": sim["answered"],
                "handed_to_two_clients": twice, "lost": lost, "db_states": counts,
                "per_client_orders": sim["per_client_orders"], "peak_rss_mb": round(rss),
                # CPU seconds of the card phase: server, PostgreSQL, the card makers' clients.
                "cpu_s": cpu,
                "median_lease_ms": round(statistics.median(lease_times) * 1000),
                "median_results_ms": round(statistics.median(sim["results_calls"]) * 1000),
                # Whether leases slow down as the queue is worked through.
                "lease_ms_first_tenth": round(statistics.median(lease_times[:tenth]) * 1000),
                "lease_ms_last_tenth": round(statistics.median(lease_times[-tenth:]) * 1000)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--statements", action="store_true",
                   help="print PostgreSQL's costliest statements of the card phase (needs pg_stat_statements "
                        "in shared_preload_libraries)")
    args = p.parse_args()
    bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    runs = []
    for i in range(args.runs):
        r = one_run(args, bin_dir, i + 1)
        print(json.dumps(r), flush=True)
        runs.append(r)
    summary = {"orders": args.orders, "clients": CLIENTS, "lease": LEASE, "runs": len(runs),
               "median_orders_per_s": statistics.median(r["orders_per_s"] for r in runs),
               "median_seed_orders_per_s": statistics.median(r["seed_orders_per_s"] for r in runs),
               "max_handed_to_two_clients": max(r["handed_to_two_clients"] for r in runs),
               "max_lost": max(r["lost"] for r in runs),
               "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
