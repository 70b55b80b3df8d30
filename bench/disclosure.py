#!/usr/bin/env python3
"""Disclosure benchmark: anonymous reads of one village's month of reimbursements
(`GET /api/v1/disclosures`) through the gateway, with and without `If-None-Match`.

One run, on one machine:
  1. `healthcard all` on fresh PostgreSQL databases of its own
     (`hc_bench_disclosure_<service>`; release binaries, HEALTHCARD_WORKERS=2; the
     gateway's rate limit raised out of the way, so that it does not cap what is
     measured: anonymous calls are limited per client address, and every connection
     here comes from 127.0.0.1); a policy for county 210804 and this year (China's),
     the county assigned to bank BANK-P.
  2. --people people with activated cards, enrolled and paid, seeded as
     bench/claims.py seeds them. The generator puts person i in village
     第{i % 40 + 1}村, so 第1村 holds people / 40 of them.
  3. --claims inpatient claims at a county hospital for 第1村's people in turn,
     admitted a moment ago, through the gateway with a clinic token (--claim-threads
     at once); then the disclosure of 第1村 for this month must list exactly --claims
     claims with their total.
  4. For each format of --formats: --concurrency keep-alive connections, no token,
     ask for that disclosure for --seconds, first without `If-None-Match` (`200`,
     the whole body each time), then with the `ETag` of the first answer (`304`, no
     body). Reported per phase: requests/s, p50/p90/p99/max latency, body bytes,
     status counts, errors, and the CPU seconds of the server, PostgreSQL and this
     client (a Python client on the same cores: it takes its share of them).

Usage:
  bench/disclosure.py --claims 500 --seconds 30 --runs 3
  bench/disclosure.py --people 400 --claims 50 --seconds 2 --runs 1    # a quick check
Binaries from $CARGO_TARGET_DIR/release (`cargo build --release --bins`).
"""
import argparse
import concurrent.futures
import datetime
import http.client as httpclient
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from claims import seed  # noqa: E402
from harness import System, cpu_delta, cpu_seconds, http  # noqa: E402
from settlement import BANK, COUNTY, Conn, china_year, policy  # noqa: E402

CLINIC = "H21080400001"
VILLAGE = "第1村"
VILLAGES = 40
ACCEPT = {
    "json": "application/json",
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html",
}
# 130,000 fen in scope at a county hospital: (130,000 - 30,000) * 75% from the fund.
FUND_PER_CLAIM = 75_000
INPATIENT_CAP = 15_000_000


def china_now():
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)


def claim(k, card, stamp):
    now = china_now()
    at = lambda t: t.strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    sent = stamp + datetime.timedelta(seconds=k // 10_000)
    return {
        "msgid": f"{CLINIC}{sent.strftime('%Y%m%d%H%M%S')}{k % 10_000:04d}", "ipt_otp_no": f"ZY{k:08d}",
        "mdtrt_cert_type": "03", "mdtrt_cert_no": card, "insutype": "390", "med_type": "21", "level": "county",
        "begntime": at(now - datetime.timedelta(seconds=1)), "endtime": at(now),
        "medfee_sumamt": 150_000, "fulamt_ownpay_amt": 10_000, "overlmt_selfpay": 5000, "preselfpay_amt": 5000,
        "inscp_scp_amt": 130_000,
    }


FRAUD_RULES = ["overlapping_stay", "before_enrollment", "after_card_lost", "outpatient_frequency",
               "amount_outlier", "duplicate_visit"]


def settle_claims(args, system, cards):
    village_cards = cards[0::VILLAGES]
    if not village_cards:
        raise RuntimeError(f"--people {args.people} leaves {VILLAGE} empty: give at least {VILLAGES}")
    per_person = -(-args.claims // len(village_cards))
    if per_person * FUND_PER_CLAIM > INPATIENT_CAP:
        raise RuntimeError(f"{per_person} claims a person pass the annual cap: give more --people")
    token = system.client("clinic", [CLINIC])
    gw = Conn(system.gw)
    stamp = china_now()
    bodies = [json.dumps(claim(k, village_cards[k % len(village_cards)], stamp)) for k in range(args.claims)]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.claim_threads) as pool:
        answers = list(pool.map(lambda body: gw.post("/api/v1/claims", token, body), bodies))
    elapsed = time.monotonic() - t0
    paid = [a["hifp_pay"] for a in answers if a["state"] == "approved"]
    if len(paid) != args.claims or any(p != FUND_PER_CLAIM for p in paid):
        raise RuntimeError(f"claims: {len(paid)} approved of {args.claims}, amounts {sorted(set(paid))}")
    return {"claims": args.claims, "people_in_village": len(village_cards), "settled_s": round(elapsed, 2),
            "settled_per_s": round(args.claims / elapsed, 1)}


def path_for(month):
    return ("/api/v1/disclosures?" +
            urllib.parse.urlencode({"county": COUNTY, "village": VILLAGE, "month": month}))


def get(conn, url, path, headers):
    """One GET on a keep-alive connection (reopened once if the server closed it):
    (connection, status, body bytes, ETag)."""
    for attempt in range(2):
        if conn is None:
            conn = httpclient.HTTPConnection(url.hostname, url.port, timeout=60)
        try:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            return conn, r.status, len(body), r.getheader("etag")
        except (httpclient.HTTPException, OSError):
            conn.close()
            conn = None
            if attempt:
                raise
    raise RuntimeError("unreachable")


def load(gw, path, headers, concurrency, seconds):
    """`concurrency` connections asking `path` for `seconds`."""
    url = urllib.parse.urlsplit(gw)
    stop = time.monotonic() + seconds
    results = []
    lock = threading.Lock()

    def worker():
        conn, mine = None, []
        while time.monotonic() < stop:
            t = time.perf_counter()
            try:
                conn, status, size, _ = get(conn, url, path, headers)
            except (httpclient.HTTPException, OSError):
                conn, status, size = None, "error", 0
            mine.append((time.perf_counter() - t, status, size))
        if conn is not None:
            conn.close()
        with lock:
            results.extend(mine)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.monotonic() - t0
    latencies = sorted(r[0] for r in results)

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2) if latencies else None

    statuses = {}
    for _, status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"requests": len(results), "seconds": round(elapsed, 2),
            "per_s": round(len(results) / elapsed, 1) if elapsed else None,
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
            "body_bytes_per_request": round(statistics.mean(r[2] for r in results)) if results else 0,
            "statuses": statuses, "concurrency": concurrency}


def one_run(args, bin_dir, run_no):
    extra = {"HEALTHCARD_RATE_LIMIT_PER_SECOND": "1000000", "HEALTHCARD_RATE_LIMIT_BURST": "1000000"}
    # Databases of its own, so that it never drops another benchmark's.
    with System(bin_dir, "postgres", "/var/tmp/hc-bench/disclosure", extra, db_prefix="hc_bench_disclosure") as system:
        gw, client = system.gw, system.client
        year = china_year()
        system.admin = client("provincial_admin", [])
        # Several stays of one person on one day fill the village month here: the fraud
        # rules, which would stop them for review, are off for this county.
        quiet = dict(policy(year), fraud_thresholds={"disabled_rules": FRAUD_RULES})
        http("PUT", f"{gw}/api/v1/policies/{COUNTY}/{year}", system.admin, quiet)
        http("PUT", f"{gw}/api/v1/bank-assignments/{COUNTY}", system.admin, {"bank": BANK})
        cards_file, _, filling = seed(args, system, bin_dir, run_no, year)
        with open(cards_file) as f:
            cards = f.read().split()
        # Admissions are stamped to the second and must follow the activations.
        time.sleep(2)
        settled = settle_claims(args, system, cards)
        print(f"run {run_no}: filled {json.dumps(filling)}, {json.dumps(settled)}", file=sys.stderr, flush=True)
        month = china_now().strftime("%Y-%m")
        path = path_for(month)
        disclosure = http("GET", f"{gw}{path}")
        items, totals = disclosure["items"], disclosure["totals"]
        if len(items) != args.claims or totals["hifp_pay"] != args.claims * FUND_PER_CLAIM:
            raise RuntimeError(f"disclosure lists {len(items)} claims, {totals}; expected {args.claims}")
        url = urllib.parse.urlsplit(gw)
        phases = {}
        for name in args.formats.split(","):
            headers = {"accept": ACCEPT[name]}
            _, status, size, tag = get(None, url, path, headers)
            if status != 200 or not tag:
                raise RuntimeError(f"{name}: {status}, ETag {tag}")
            for label, extra_headers in (("full", {}), ("if_none_match", {"if-none-match": tag})):
                cpu0 = cpu_seconds()
                result = load(gw, path, {**headers, **extra_headers}, args.concurrency, args.seconds)
                result["cpu_s"] = cpu_delta(cpu0, cpu_seconds())
                result["body_bytes_of_200"] = size
                phases[f"{name}_{label}"] = result
                print(f"run {run_no}: {name} {label} {json.dumps(result)}", file=sys.stderr, flush=True)
        return {"run": run_no, "people": args.people, "village": VILLAGE, "month": month, "filling": filling,
                "settled": settled, "phases": phases}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=4000, help="people seeded; 第1村 holds a 40th of them")
    p.add_argument("--claims", type=int, default=500, help="claims in 第1村 this month")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=30, help="per format and phase")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--formats", default="json,html", help="of json, csv, xlsx, html")
    p.add_argument("--claim-threads", type=int, default=8)
    p.add_argument("--seed-threads", type=int, default=8)
    p.add_argument("--answers-per-request", type=int, default=5000)
    args = p.parse_args()
    unknown = set(args.formats.split(",")) - set(ACCEPT)
    if unknown:
        p.error(f"unknown formats {sorted(unknown)}")
    bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    runs = []
    for i in range(args.runs):
        r = one_run(args, bin_dir, i + 1)
        print(json.dumps(r), flush=True)
        runs.append(r)
    summary = {"people": args.people, "claims": args.claims, "runs": len(runs), "concurrency": args.concurrency}
    for phase in runs[0]["phases"]:
        summary[f"median_{phase}_per_s"] = statistics.median(r["phases"][phase]["per_s"] for r in runs)
        summary[f"median_{phase}_p99_ms"] = statistics.median(r["phases"][phase]["p99_ms"] for r in runs)
    summary["total_errors"] = sum(ph["statuses"].get("error", 0) for r in runs for ph in r["phases"].values())
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
