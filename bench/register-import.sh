#!/bin/bash
# Times a 100,000-row snapshot import against `healthcard all`, posted straight to the
# verification service. usage: bench/register-import.sh sqlite|postgres [binary]
# First: python3 bench/gen_register.py 100000 /var/tmp/hc-bench/snap100k.csv
set -e
BACKEND=$1
BIN=${2:-/var/tmp/hc-target-helpers/debug/healthcard}
DIR=/var/tmp/hc-bench/run-$BACKEND
rm -rf $DIR; mkdir -p $DIR
for k in $(env | grep ^HEALTHCARD_ | cut -d= -f1); do unset $k; done
export HEALTHCARD_DATA_DIR=$DIR HEALTHCARD_LOG=warn HEALTHCARD_MAX_BODY_BYTES=1000000000
P=$((20000 + RANDOM % 20000))
export HEALTHCARD_GATEWAY_LISTEN=127.0.0.1:$P HEALTHCARD_COLLECTION_LISTEN=127.0.0.1:$((P+1)) HEALTHCARD_VERIFICATION_LISTEN=127.0.0.1:$((P+2)) HEALTHCARD_CARDMAKING_LISTEN=127.0.0.1:$((P+3)) HEALTHCARD_SETTLEMENT_LISTEN=127.0.0.1:$((P+4))
if [ $BACKEND = postgres ]; then
  for s in gateway collection verification cardmaking settlement; do
    psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS hc_bench_$s" -c "CREATE DATABASE hc_bench_$s"
    export HEALTHCARD_${s^^}_DATABASE_URL=postgres://postgres@127.0.0.1:5432/hc_bench_$s
  done
fi
$BIN all > $DIR/out.log 2> $DIR/err.log &
PID=$!
trap "kill $PID" EXIT
for i in $(seq 1 100); do grep -q '"service":"verification"' $DIR/out.log 2>/dev/null && break; sleep 0.2; done
CRED=$($BIN clients create --name bench --role registry_admin)
ID=$(echo "$CRED" | python3 -c 'import json,sys;print(json.load(sys.stdin)["client_id"])')
SECRET=$(echo "$CRED" | python3 -c 'import json,sys;print(json.load(sys.stdin)["client_secret"])')
TOKEN=$(curl -s -X POST http://127.0.0.1:$P/api/v1/auth/token -H 'content-type: application/json' -d "{\"client_id\":\"$ID\",\"client_secret\":\"$SECRET\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')
for run in 1 2; do
  START=$(date +%s.%N)
  curl -s -X POST "http://127.0.0.1:$((P+2))/api/v1/registry/imports?kind=snapshot" -H "authorization: Bearer $TOKEN" -H 'content-type: text/csv' -H 'transfer-encoding: chunked' --data-binary @/var/tmp/hc-bench/snap100k.csv | python3 -c 'import json,sys;d=json.load(sys.stdin);print({k:d.get(k) for k in ["state","rows_total","rows_inserted","rows_invalid"]})'
  END=$(date +%s.%N)
  python3 -c "t=$END-$START;print(f'$BACKEND run $run: {t:.2f} s, {100000/t:.0f} rows/s')"
done
