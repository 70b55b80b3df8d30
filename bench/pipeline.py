#!/usr/bin/env python3
"""Collection and verification benchmark (issue: bulk collection and verification).

Measures, on one machine and in one run:
  (a) register import rate (rows/s) of a snapshot posted through the gateway;
  (b) end to end: from the first part uploaded to the last record verified or
      rejected, in records/s (parts of PART_ROWS rows, two uploads at a time);
  (c) peak RSS (VmHWM) of the process (`healthcard all` hosts all five services);
  (d) PostgreSQL only, the raw floor: COPY of the batch file plus one SQL join against
      the register, and a raw COPY of the register file.

Data comes from the seeded generator (healthcard-datagen), so every run sees the same
bytes. Usage:
  bench/pipeline.py --backend postgres --records 1000000 --register-extra 4000000 --runs 3
  bench/pipeline.py --backend sqlite --records 100000 --register-extra 400000 --runs 3
  bench/pipeline.py --backend postgres --records 1000000 --register-extra 4000000 --runs 5 --import-only
The binaries are taken from $CARGO_TARGET_DIR/release (build them with
`cargo build --release --bins`).
"""
import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import System, cpu_delta, cpu_seconds, http, psql, sh  # noqa: E402

PART_ROWS = 100_000


def generate(bin_dir, workdir, records, extra):
    batch, register = os.path.join(workdir, "batch.csv"), os.path.join(workdir, "register.csv")
    if not os.path.exists(register):
        os.makedirs(workdir, exist_ok=True)
        sh([os.path.join(bin_dir, "healthcard-datagen"), "batch", "--records", str(records), "--seed", "1",
            "--defect-rate", "0.02", "--format", "csv", "--out", batch, "--register-out", register,
            "--register-extra", str(extra)])
    parts = sorted(p for p in os.listdir(workdir) if p.startswith("part-"))
    if not parts:
        with open(batch, encoding="utf-8") as f:
            header = f.readline()
            n, out = 0, None
            for line in f:
                if n % PART_ROWS == 0:
                    if out:
                        out.close()
                    out = open(os.path.join(workdir, f"part-{n // PART_ROWS + 1:04d}.csv"), "w", encoding="utf-8")
                    out.write(header)
                out.write(line)
                n += 1
            if out:
                out.close()
        parts = sorted(p for p in os.listdir(workdir) if p.startswith("part-"))
    with open(register, encoding="utf-8") as f:
        lines = sum(1 for _ in f) - 1
    return batch, register, [os.path.join(workdir, p) for p in parts], lines


def curl_upload(method, url, token, path, content_type):
    out = sh(["curl", "-sS", "--fail-with-body", "-X", method, url, "-H", f"authorization: Bearer {token}",
              "-H", f"content-type: {content_type}", "-H", "transfer-encoding: chunked", "--data-binary", f"@{path}"])
    return json.loads(out)


def one_run(args, bin_dir, register, parts, run_no):
    extra = {"HEALTHCARD_MAX_BODY_BYTES": str(4 << 30)}
    with System(bin_dir, args.backend, f"/var/tmp/hc-bench/run-{args.backend}", extra) as system:
        gw, client = system.gw, system.client
        registry = client("registry_admin", [])
        county = client("county_office", ["210802", "210803", "210804", "210811", "210881", "210882"])

        if args.statements:
            psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", "hc_bench_collection")
            psql("SELECT pg_stat_statements_reset()", "hc_bench_collection")
        cpu0 = cpu_seconds()
        t0 = time.monotonic()
        imp = curl_upload("POST", f"{gw}/api/v1/registry/imports?kind=snapshot", registry, register, "text/csv")
        t_import = time.monotonic() - t0
        cpu_import = cpu_delta(cpu0, cpu_seconds())
        assert imp["state"] == "applied", imp
        print(f"import: {imp['rows_total']} rows in {t_import:.1f} s, cpu {cpu_import}", file=sys.stderr, flush=True)
        if args.statements:
            print_statements("import")
        if args.import_only:
            return {"run": run_no, "register_rows": imp["rows_total"], "import_s": round(t_import, 2),
                    "import_rows_per_s": round(imp["rows_total"] / t_import), "cpu_import_s": cpu_import,
                    "peak_rss_mb": round(system.peak_rss_mb())}

        batch = http("POST", f"{gw}/api/v1/batches", county, {"county_code": "210804", "title": "bench"})["id"]
        cpu0 = cpu_seconds()
        t0 = time.monotonic()
        wall0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            reports = list(pool.map(
                lambda ip: curl_upload("PUT", f"{gw}/api/v1/batches/{batch}/parts/{ip[0] + 1}", county, ip[1],
                                       "text/csv"),
                enumerate(parts)))
        t_upload = time.monotonic() - t0
        cpu_upload = cpu_delta(cpu0, cpu_seconds())
        print(f"upload: {len(parts)} parts in {t_upload:.1f} s, cpu {cpu_upload}", file=sys.stderr, flush=True)
        http("POST", f"{gw}/api/v1/batches/{batch}/submit", county)
        while True:
            detail = http("GET", f"{gw}/api/v1/batches/{batch}", county)
            states = {s["state"]: s["count"] for s in detail["states"]}
            if states.get("received", 0) + states.get("pending_verification", 0) == 0:
                break
            time.sleep(2)
        t_e2e = time.monotonic() - t0
        states_e2e = dict(states)
        cpu_e2e = cpu_delta(cpu0, cpu_seconds())
        print(f"e2e: {t_e2e:.1f} s, cpu {cpu_e2e}", file=sys.stderr, flush=True)
        if args.statements:
            print_statements("upload to last record decided")
        # Not part of (b): verified records go on to card making; how long until every
        # one of them is registered (or answered already_registered) too.
        while states.get("verified", 0) > 0 and time.monotonic() - t0 < t_e2e + 1800:
            time.sleep(2)
            detail = http("GET", f"{gw}/api/v1/batches/{batch}", county)
            states = {s["state"]: s["count"] for s in detail["states"]}
        t_registered = time.monotonic() - t0
        cpu_registered = cpu_delta(cpu0, cpu_seconds())
        print(f"all registered: {t_registered:.1f} s, cpu {cpu_registered}", file=sys.stderr, flush=True)
        if args.statements:
            print_timeline(wall0)
        rss = system.peak_rss_mb()
        received = sum(r["received"] for r in reports)
        return {"run": run_no, "register_rows": imp["rows_total"], "import_s": round(t_import, 2),
                "import_rows_per_s": round(imp["rows_total"] / t_import), "records": received,
                "upload_s": round(t_upload, 2), "e2e_s": round(t_e2e, 2),
                # CPU seconds per phase: server, PostgreSQL, these clients (curl is a child, not counted).
                "cpu_import_s": cpu_import, "cpu_upload_s": cpu_upload, "cpu_e2e_s": cpu_e2e,
                "all_registered_s": round(t_registered, 2), "cpu_all_registered_s": cpu_registered,
                "e2e_records_per_s": round(received / t_e2e), "states": states_e2e, "states_final": states,
                "peak_rss_mb": round(rss)}


def print_statements(phase):
    """PostgreSQL's costliest statements since the last reset, in every database."""
    print(f"-- costliest statements, {phase}:", file=sys.stderr)
    print(psql("""SELECT round(total_exec_time::numeric / 1000, 1) AS s, calls, rows,
        replace(d.datname, 'hc_bench_', '') AS db, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
        FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
        ORDER BY total_exec_time DESC LIMIT 20""", "hc_bench_collection"), file=sys.stderr, flush=True)
    psql("SELECT pg_stat_statements_reset()", "hc_bench_collection")


def print_timeline(wall0):
    """When each service's messages were written and delivered, in seconds from the
    first part uploaded: where the pipeline waits."""
    print("-- messages per service and kind: count, first written, last written, last delivered, "
          "median and max delivery delay (s)", file=sys.stderr)
    for service in ["collection", "verification", "cardmaking"]:
        print(psql(f"""SELECT '{service}' AS sender, kind, count(*),
            round((extract(epoch FROM min(created_at)) - {wall0})::numeric, 1) AS first,
            round((extract(epoch FROM max(created_at)) - {wall0})::numeric, 1) AS last,
            round((extract(epoch FROM max(delivered_at)) - {wall0})::numeric, 1) AS delivered,
            round(extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY delivered_at - created_at))::numeric, 2)
                AS median_delay,
            round(extract(epoch FROM max(delivered_at - created_at))::numeric, 2) AS max_delay
            FROM outbox_messages GROUP BY kind ORDER BY kind""", f"hc_bench_{service}"), file=sys.stderr, flush=True)


def raw_floor(batch, register, register_only=False):
    """PostgreSQL's own speed on the same files: COPY and one join."""
    psql("DROP DATABASE IF EXISTS hc_bench_raw WITH (FORCE)")
    psql("CREATE DATABASE hc_bench_raw")
    cols = ("id_number text, name text, sex text, birth_date text, ethnicity text, address text, "
            "household_number text, status text")
    bcols = ("name text, sex text, ethnicity text, id_number text, address text, ncms_number text, phone text, "
             "county_code text, village text, household_number text")
    psql(f"CREATE TABLE reg ({cols}); CREATE TABLE batch ({bcols});", "hc_bench_raw")
    timings = {}
    for key, sql in [
        ("register_copy_s", f"\\copy reg FROM '{register}' WITH (FORMAT csv, HEADER true)"),
        ("register_index_s", "CREATE INDEX ON reg (id_number)"),
        ("batch_copy_s", f"\\copy batch FROM '{batch}' WITH (FORMAT csv, HEADER true)"),
        ("join_s", "CREATE TABLE outcome AS SELECT b.id_number, (r.id_number IS NULL) AS missing, "
                   "(r.name IS DISTINCT FROM b.name) AS name_differs, r.status FROM batch b "
                   "LEFT JOIN reg r ON r.id_number = b.id_number"),
    ][:2 if register_only else 4]:
        t0 = time.monotonic()
        psql(sql, "hc_bench_raw")
        timings[key] = round(time.monotonic() - t0, 2)
    psql("DROP DATABASE IF EXISTS hc_bench_raw WITH (FORCE)")
    return timings


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["postgres", "sqlite"], required=True)
    p.add_argument("--records", type=int, required=True)
    p.add_argument("--register-extra", type=int, required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--statements", action="store_true",
                   help="PostgreSQL only: print its costliest statements of the import and of the pipeline "
                        "(needs pg_stat_statements in shared_preload_libraries)")
    p.add_argument("--no-raw", action="store_true", help="skip the raw floor (PostgreSQL COPY and join)")
    p.add_argument("--import-only", action="store_true",
                   help="measure (a) only: the register import, and of the raw floor the register COPY")
    args = p.parse_args()
    if args.backend != "postgres":
        args.statements = False
    bin_dir = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release")
    workdir = f"/var/tmp/hc-bench/data-{args.records}-{args.register_extra}"
    batch, register, parts, register_rows = generate(bin_dir, workdir, args.records, args.register_extra)
    runs = []
    for i in range(args.runs):
        r = one_run(args, bin_dir, register, parts, i + 1)
        if args.backend == "postgres" and not args.no_raw:
            r["raw"] = raw_floor(batch, register, register_only=args.import_only)
        print(json.dumps(r), flush=True)
        runs.append(r)

    def med(key):
        return statistics.median(r[key] for r in runs)

    summary = {"backend": args.backend, "records": args.records, "register_rows": register_rows, "runs": len(runs),
               "median_import_rows_per_s": med("import_rows_per_s"),
               "max_peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
    if not args.import_only:
        summary.update({"median_e2e_records_per_s": med("e2e_records_per_s"), "median_e2e_s": med("e2e_s")})
    if args.backend == "postgres" and not args.no_raw:
        def raw(key):
            return statistics.median(r["raw"][key] for r in runs)
        raw_copy = register_rows / raw("register_copy_s")
        summary.update({
            "median_raw_register_copy_rows_per_s": round(raw_copy),
            "import_fraction_of_raw_copy": round(summary["median_import_rows_per_s"] / raw_copy, 3),
        })
        if not args.import_only:
            raw_batch = args.records / (raw("batch_copy_s") + raw("join_s"))
            summary.update({
                "median_raw_batch_copy_plus_join_records_per_s": round(raw_batch),
                "e2e_fraction_of_raw": round(summary["median_e2e_records_per_s"] / raw_batch, 3),
            })
    print(json.dumps({"summary": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
