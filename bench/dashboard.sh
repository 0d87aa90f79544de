#!/usr/bin/env bash
# Load check of the dashboard (a benchmark, not a test): the same small search twice from
# scratch — alone, then with `pba dashboard` on its database under wrk load the whole time —
# printing the search's throughput both ways and the dashboard's requests/s, from one run.
# Usage: bash bench/dashboard.sh   (PBA=path/to/pba, SEARCH_ARGS, CONNECTIONS to override)
set -euo pipefail
cd "$(dirname "$0")/.."
PBA=${PBA:-.build/release/pba}
CONNECTIONS=${CONNECTIONS:-4}
SEARCH_ARGS=${SEARCH_ARGS:---preset demo --population 8 --epochs 6 --interval 2 --train-size 1000 --validation-size 250 --workers 2}
for tool in wrk sqlite3 bc; do command -v $tool >/dev/null || { echo "needs $tool (apt-get install wrk sqlite3 bc)"; exit 1; }; done
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT
lscpu | sed -n 's/^Model name: *//p;s/^CPU(s): */cpus: /p'

search() { # $1 db; prints seconds
  local start end
  start=$(date +%s.%N)
  $PBA search --db "$1" --out "$OUT/sched-$(basename "$1")" $SEARCH_ARGS --log-level warning >"$1.log" 2>&1
  end=$(date +%s.%N)
  echo "$end - $start" | bc
}
intervals() { sqlite3 "$1" "SELECT COUNT(*) FROM interval WHERE finishedAt IS NOT NULL" 2>/dev/null || echo "?"; }

echo "1. search alone"
t1=$(search "$OUT/a.sqlite")
n1=$(intervals "$OUT/a.sqlite")

echo "2. the same search with the dashboard under load (wrk, $CONNECTIONS connections, / and the run page)"
( start=$(date +%s.%N); $PBA search --db "$OUT/b.sqlite" --out "$OUT/sched-b" $SEARCH_ARGS --log-level warning >"$OUT/b.log" 2>&1
  end=$(date +%s.%N); echo "$end - $start" | bc > "$OUT/t2" ) &
searchpid=$!
until [ -s "$OUT/b.sqlite" ] && sqlite3 "$OUT/b.sqlite" "SELECT id FROM run" 2>/dev/null | grep -q run; do sleep 0.2; done
run=$(sqlite3 "$OUT/b.sqlite" "SELECT id FROM run LIMIT 1")
$PBA dashboard --db "$OUT/b.sqlite" --bind 127.0.0.1:0 --log-level warning >"$OUT/dash.out" 2>&1 &
dashpid=$!
until grep -q '^dashboard: ' "$OUT/dash.out"; do sleep 0.1; done
url=$(sed -n 's/^dashboard: //p' "$OUT/dash.out")
# Load until the search ends: wrk in 5 s slices, requests summed.
requests=0; seconds=0; pages=("$url" "${url}runs/$run" "${url}api/runs/$run" "${url}metrics")
i=0
while kill -0 $searchpid 2>/dev/null; do
  page=${pages[$((i % 4))]}; i=$((i + 1))
  r=$(wrk -t1 -c"$CONNECTIONS" -d5s "$page" | awk '/requests in/ {print $1}')
  requests=$((requests + r)); seconds=$((seconds + 5))
done
wait $searchpid
t2=$(cat "$OUT/t2")
n2=$(intervals "$OUT/b.sqlite")
echo "3. the dashboard on the finished run (no search), 10 s per page"
for page in "${pages[@]}"; do
  printf "   %-60s %s req/s\n" "${page#$url}" "$(wrk -t1 -c"$CONNECTIONS" -d10s "$page" | awk '/Requests\/sec/ {print $2}')"
done
kill $dashpid
printf "search alone:           %6.1f s, %s intervals, %.2f intervals/min\n" "$t1" "$n1" "$(echo "$n1 * 60 / $t1" | bc -l)"
printf "search + loaded dashboard: %6.1f s, %s intervals, %.2f intervals/min (%.0f%% of alone)\n" "$t2" "$n2" "$(echo "$n2 * 60 / $t2" | bc -l)" "$(echo "100 * $t1 / $t2" | bc -l)"
printf "dashboard during the search: %d requests in %d s = %.1f req/s (pages, run JSON and /metrics in turn)\n" "$requests" "$seconds" "$(echo "$requests / $seconds" | bc -l)"
