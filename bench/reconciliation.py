#!/usr/bin/env python3
"""Detail reconciliation benchmark (3202): one clinic's list of N rows against N
settlements, through the gateway, on PostgreSQL.

One run, on one machine:
  1. `healthcard all` on fresh PostgreSQL databases (HEALTHCARD_WORKERS=2, the rate
     limit out of the way).
  2. N settlements of clinic H21080400001, made today (China), are written straight
     into settlement's `claims` table with one INSERT ... SELECT (the reconciliation
     reads nothing else; settling through the API is bench/claims.py's subject): a mix
     of outpatient and inpatient, every 100th cancelled; then ANALYZE.
  3. The clinic's list is the settlements as `psql \\copy` writes them, with one
     difference of each code: the first settlement left out (1), one row of the
     clinic's own (2), one row's total changed (3). About 125 bytes a row.
  4. The server's peak resident memory is reset (`/proc/<pid>/clear_refs`), then the
     list is streamed as `text/csv` to `POST /api/v1/reconciliations/detail` (clock
     starts before the first byte, stops at the answer) and the answer is checked:
     N - 2 rows agreed and one difference of each code. Reported: seconds, rows/s, the
     server's VmHWM during the upload (and its RSS before), the upload's size, and how
     long the scratch rows took to be deleted after the answer.

Usage:
  bench/reconciliation.py --rows 1000000 --runs 3
  bench/reconciliation.py --rows 2000 --runs 1 --bin-dir "$CARGO_TARGET_DIR/debug"   # a quick check
Binaries from $CARGO_TARGET_DIR/release (`cargo build --release --bins`) unless --bin-dir.
"""
import argparse
import datetime
import http.client as httpclient
import json
import os
import statistics
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import System, cpu_delta, cpu_seconds, psql, psql_rows, vmhwm_mb  # noqa: E402

CLINIC = "H21080400001"
DB = "hc_bench_settlement"
HEADER = "setl_id,mdtrt_id,psn_no,medfee_sumamt,fund_pay_sumamt,refd_setl_flag"


def china_today():
    return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=8)).date()


def seed(rows):
    """N settlements of CLINIC made within the last hour, every one in today's period
    (China) unless the day turned within that hour: then within the seconds since."""
    now = datetime.datetime.now(datetime.timezone.utc)
    midnight_utc = datetime.datetime.combine(china_today(), datetime.time()) - datetime.timedelta(hours=8)
    span = max(1, min(3600, int((now.replace(tzinfo=None) - midnight_utc).total_seconds()) - 1))
    psql(f"""
        INSERT INTO claims (setl_id, mdtrt_id, kind, cancels, clinic, msgid, ipt_otp_no, request_hash, person_no,
            card_no, county_code, village, year, med_type, care, level, admitted_at, discharged_at, confidential,
            medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt, policy_version,
            terms, hifp_pay, state, reason, payment_instruction_id, created_by, created_at)
        SELECT gen_random_uuid()::text, md5(i::text), 'settlement', NULL, '{CLINIC}', 'B' || lpad(i::text, 29, '0'),
            'ZY' || i, '', 'P' || (i % 50000), '622202' || lpad((i % 50000)::text, 13, '0'), '210804', 'v',
            {china_today().year}, CASE WHEN i % 10 = 0 THEN '21' ELSE '11' END,
            CASE WHEN i % 10 = 0 THEN 'inpatient' ELSE 'outpatient' END, 'county',
            now() AT TIME ZONE 'UTC' - interval '1 day', now() AT TIME ZONE 'UTC' - interval '1 day', false,
            10000 + i % 7919, 0, 0, 0, 10000 + i % 7919, 1, '{{}}', (10000 + i % 7919) / 2,
            CASE WHEN i % 100 = 0 THEN 'cancelled' ELSE 'approved' END, NULL, NULL, 'bench',
            now() AT TIME ZONE 'UTC' - (i % {span}) * interval '1 second'
        FROM generate_series(1, {rows}) AS i
    """, DB)
    psql("ANALYZE claims", DB)


def clinic_list(path, rows):
    """The clinic's CSV: every settlement but the first, one changed, one of its own."""
    raw = path + ".raw"
    psql(f"\\copy (SELECT setl_id, mdtrt_id, person_no AS psn_no, medfee_sumamt, hifp_pay AS fund_pay_sumamt, "
         f"CASE WHEN state = 'cancelled' THEN '1' ELSE '0' END AS refd_setl_flag FROM claims "
         f"WHERE clinic = '{CLINIC}' AND kind = 'settlement' ORDER BY setl_id) TO '{raw}' WITH (FORMAT csv)", DB)
    with open(raw) as src, open(path, "w") as out:
        out.write(HEADER + "\n")
        for n, line in enumerate(src):
            if n == 0:
                missing = line.split(",")[0]
                continue
            if n == 1:
                f = line.rstrip("\n").split(",")
                changed = f[0]
                f[3] = str(int(f[3]) + 1)
                line = ",".join(f) + "\n"
            out.write(line)
        own = str(uuid.uuid4())
        out.write(f"{own},LOCAL,P1,100,0,0\n")
    os.remove(raw)
    return {"1": missing, "2": own, "3": changed}


def upload(gw, token, path, query):
    u = urllib.parse.urlsplit(gw)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=3600, blocksize=256 * 1024)
    size = os.path.getsize(path)
    with open(path, "rb") as body:
        conn.request("POST", f"/api/v1/reconciliations/detail?{query}", body=body,
                     headers={"authorization": f"Bearer {token}", "content-type": "text/csv",
                              "content-length": str(size)})
        r = conn.getresponse()
        answer = r.read()
    conn.close()
    if r.status != 201:
        raise RuntimeError(f"detail reconciliation: {r.status}: {answer[:500]!r}")
    return json.loads(answer), size


def get(gw, token, path):
    u = urllib.parse.urlsplit(gw)
    conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=600)
    conn.request("GET", path, headers={"authorization": f"Bearer {token}"})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    return body


def reset_peak(pid):
    """Resets VmHWM to the current RSS (Linux: writing 5 to clear_refs); False if it
    cannot, and the peak then covers the process's whole life."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def one_run(args, bin_dir, run_no):
    extra = {"HEALTHCARD_RATE_LIMIT_PER_SECOND": "1000000", "HEALTHCARD_RATE_LIMIT_BURST": "1000000"}
    with System(bin_dir, "postgres", "/var/tmp/hc-bench/reconciliation", extra) as system:
        clinic = system.client("clinic", [CLINIC])
        t0 = time.monotonic()
        seed(args.rows)
        t_seed = time.monotonic() - t0
        path = os.path.join(system.data_dir, "clinic-list.csv")
        expected = clinic_list(path, args.rows)
        today = china_today().isoformat()
        query = f"stmt_begndate={today}&stmt_enddate={today}&insutype=390&clr_type=99"
        pid = system.server.pid
        rss_before = rss_mb(pid)
        peak_reset = reset_peak(pid)
        cpu0 = cpu_seconds()
        t1 = time.monotonic()
        summary, size = upload(system.gw, clinic, path, query)
        seconds = time.monotonic() - t1
        cpu = cpu_delta(cpu0, cpu_seconds())
        peak = vmhwm_mb(pid)
        rows = summary["rows"]
        ok = (rows["received"] == args.rows and rows["agreed"] == args.rows - 2
              and (rows["only_scheme"], rows["only_clinic"], rows["differing"]) == (1, 1, 1))
        found = get(system.gw, clinic, f"/api/v1/reconciliations/{summary['id']}/differences")["items"]
        ok = ok and {d["stmt_rslt"]: d["setl_id"] for d in found} == expected
        t2 = time.monotonic()
        while psql_rows("SELECT count(*) FROM reconciliation_rows", DB) != ["0"]:
            time.sleep(0.2)
        purged_s = time.monotonic() - t2
        return {"run": run_no, "rows": args.rows, "settlements": args.rows, "upload_mb": round(size / 1e6, 1),
                "seconds": round(seconds, 2), "rows_per_s": round(args.rows / seconds),
                "vmhwm_mb": round(peak, 1), "rss_before_mb": round(rss_before, 1), "peak_reset": peak_reset,
                "cpu_s": cpu, "scratch_deleted_after_s": round(purged_s, 2), "seed_s": round(t_seed, 1),
                "answer_ok": ok, "rows_counted": rows}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--bin-dir", default=None, help="where healthcard is (default $CARGO_TARGET_DIR/release)")
    args = p.parse_args()
    bin_dir = args.bin_dir or os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    runs = []
    for i in range(args.runs):
        r = one_run(args, bin_dir, i + 1)
        print(json.dumps(r), flush=True)
        runs.append(r)
    summary = {"rows": args.rows, "runs": len(runs),
               "median_seconds": statistics.median(r["seconds"] for r in runs),
               "median_rows_per_s": statistics.median(r["rows_per_s"] for r in runs),
               "max_vmhwm_mb": max(r["vmhwm_mb"] for r in runs),
               "every_answer_ok": all(r["answer_ok"] for r in runs)}
    print(json.dumps({"summary": summary}, indent=2))
    return 0 if summary["every_answer_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
