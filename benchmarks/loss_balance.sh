#!/usr/bin/env bash
# Does one set of loss weights keep the content/style balance at every size and with any weights
# file (issue 10 §3)? Each run stylizes Tübingen as The Starry Night with nst's defaults (random
# start, seed 0, the loss scale's own default weights) and reports its last content and style
# terms (weighted, from the loss log) and their ratio; the last column divides that ratio by the
# first run's of the same loss scale.
#   benchmarks/loss_balance.sh NST IMAGES_DIR ITERATIONS OUT_DIR SCALE:SIZE:WEIGHTS ...
# e.g. benchmarks/loss_balance.sh build/nst ../shared/images 300 /tmp/balance \
#        relative:512:w.safetensors relative:256:w.safetensors relative:512:w_a0.02.safetensors
# benchmarks/scale_weights.py makes a weights file whose features are all a times larger.
# Prints a Markdown table; every run's log, loss log and image stay in OUT_DIR.
set -euo pipefail
nst=$1 images=$2 iterations=$3 out=$4
shift 4
mkdir -p "$out"
echo "| --loss-scale | size | weights | content term | style term | style / content | ratio / first run's |"
echo "|---|---|---|---|---|---|---|"
declare -A first
for run in "$@"; do
  IFS=: read -r scale size weights <<< "$run"
  name="$out/${scale}_${size}_$(basename "$weights" .safetensors)"
  "$nst" --content "$images/tubingen.jpg" --style "$images/starry_night.jpg" --size "$size" \
    --iterations "$iterations" --weights "$weights" --loss-scale "$scale" --output "$name.png" \
    --loss-log "$name.csv" --overwrite --print-every 0 2> "$name.log"
  dims=$(grep -o ' [0-9]*x[0-9]*, [0-9]* style' "$name.log" | head -1 | awk '{print $1}' | tr -d ,)
  read -r content style <<< "$(awk -F, 'NR > 1 && $1 ~ /^[0-9]+$/ { c = $3; s = $4 } END { print c, s }' "$name.csv")"
  ratio=$(awk -v c="$content" -v s="$style" 'BEGIN { printf "%.4g", s / c }')
  [[ -n ${first[$scale]:-} ]] || first[$scale]=$ratio
  versus=$(awk -v r="$ratio" -v f="${first[$scale]}" 'BEGIN { printf "%.3f", r / f }')
  echo "| $scale | $size ($dims) | $(basename "$weights") | $content | $style | $ratio | $versus |"
done
