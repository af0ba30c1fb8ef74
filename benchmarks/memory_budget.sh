#!/usr/bin/env bash
# Peak memory and time per iteration of nst runs with and without a memory budget (issue 12):
# each run is a few iterations of the default settings under /usr/bin/time -v, its split (tiles)
# and L-BFGS history as nst chose them, its estimate and its measured peak RSS.
#   benchmarks/memory_budget.sh NST WEIGHTS IMAGES_DIR ITERATIONS OUT_DIR [SIZE:BUDGET ...]
# e.g. benchmarks/memory_budget.sh build/nst ../shared/weights/vgg19-conv.safetensors ../shared/images 3 /tmp/mem \
#        1024:0 1024:1G 2048:0 2048:3G 4096:6G
# BUDGET 0 is no limit (untiled); anything else is passed as --max-memory. s/iteration is taken
# from the loss log's seconds column: (last row - first row) / (rows - 1), so the targets'
# computation and the first evaluation's start-up are not in it. The load average is read
# before and after each run. On a shared machine, wrap it: flock -s /work/cpu.lock benchmarks/...
# CONTENT=FILE (environment) replaces the content image, tubingen.jpg (4:3); a square one gives
# the square sizes the issue names (4096 px: 4096x4096).
# Prints a Markdown table; every run's log, loss log and image stay in OUT_DIR.
set -euo pipefail
nst=$1 weights=$2 images=$3 iterations=$4 out=$5
shift 5
runs=("$@")
[[ ${#runs[@]} -gt 0 ]] || runs=(1024:0 1024:1G 2048:0 2048:3G 4096:6G)
mkdir -p "$out"
echo "| size | --max-memory | split | L-BFGS pairs | estimate | peak RSS | s/iteration | µs/pixel/iteration | load before/after |"
echo "|---|---|---|---|---|---|---|---|---|"
for run in "${runs[@]}"; do
  size=${run%%:*} budget=${run##*:}
  name="$out/${size}_${budget}"
  load_before=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -v "$nst" --content "${CONTENT:-$images/tubingen.jpg}" --style "$images/starry_night.jpg" --size "$size" \
    --iterations "$iterations" --weights "$weights" --output "$name.png" --loss-log "$name.csv" --overwrite \
    --print-every 0 --max-memory "$budget" 2> "$name.log" || { echo "| $size | $budget | failed: $(grep '^nst:' "$name.log" | tail -1) |"; continue; }
  load_after=$(cut -d' ' -f1 /proc/loadavg)
  split=$(grep -o 'tiled: [0-9]*x[0-9]* tiles of [0-9]* px' "$name.log" | sed 's/tiled: //' || true)
  [[ -n $split ]] || split=untiled
  work=$(grep -o 'about [0-9.]*x the work' "$name.log" | sed 's/about //; s/ the work//' || true)
  [[ -z $work ]] || split="$split ($work work)"
  pairs=$(grep -o ', L-BFGS history [0-9]*' "$name.log" | head -1 | sed 's/, L-BFGS history //')
  estimate=$(grep -o 'estimated peak memory [0-9.]* [KMG]iB' "$name.log" | sed 's/estimated peak memory //')
  peak_kb=$(grep 'Maximum resident set size' "$name.log" | awk '{print $NF}')
  peak=$(awk -v k="$peak_kb" 'BEGIN { printf "%.2f GiB", k / 1048576 }')
  dims=$(grep -o ' [0-9]*x[0-9]*, [0-9]* style' "$name.log" | head -1 | awk '{print $1}' | tr -d ,)
  per_it=$(awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ { if (!n) first = $6; last = $6; n++ } END { if (n > 1) printf "%.1f", (last - first) / (n - 1); else print "?" }' "$name.csv")
  us_px=$(awk -v s="$per_it" -v d="$dims" 'BEGIN { split(d, a, "x"); if (s == "?") print "?"; else printf "%.2f", s * 1e6 / (a[1] * a[2]) }')
  echo "| $size ($dims) | $budget | $split | $pairs | $estimate | $peak | $per_it | $us_px | $load_before / $load_after |"
done
