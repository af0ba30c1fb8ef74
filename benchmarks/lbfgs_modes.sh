#!/usr/bin/env bash
# The comparison behind nst's L-BFGS defaults (issue 10): per content/style pair, the final loss
# of the optimizer and of the saved 8-bit image for each mode below, from nst's last lines.
#   benchmarks/lbfgs_modes.sh NST WEIGHTS IMAGES_DIR SIZE ITERATIONS OUT_DIR
# e.g. benchmarks/lbfgs_modes.sh build/nst ../shared/weights/vgg19-conv.safetensors ../shared/images 256 200 /tmp/modes
# Modes: displacement (s = x_new - x_old), td (s = t·d), td + --clamp, displacement + --clamp;
# MODES="displacement td" (environment) runs a subset of the modes, PAIRS="tubingen:starry_night"
# a subset of the pairs.
# Prints a Markdown table; every run's log and image stay in OUT_DIR.
set -euo pipefail
nst=$1 weights=$2 images=$3 size=$4 iterations=$5 out=$6
mkdir -p "$out"
pairs=${PAIRS:-"tubingen:starry_night golden_gate:the_scream brad_pitt:picasso_selfport1907"}
modes=${MODES:-"displacement td td+clamp displacement+clamp"}
echo "| content | style | mode | optimizer loss | saved 8-bit loss | saved style | saved content | seconds |"
echo "|---|---|---|---|---|---|---|---|"
for pair in $pairs; do
  c=${pair%%:*} s=${pair##*:}
  for mode in $modes; do
    args=(--lbfgs-s "${mode%%+*}")
    [[ $mode == *clamp ]] && args+=(--clamp)
    name="$out/${c}_${s}_${mode}"
    start=$(date +%s)
    "$nst" --content "$images/$c.jpg" --style "$images/$s.jpg" --size "$size" --iterations "$iterations" \
      --weights "$weights" --output "$name.png" --loss-log "$name.csv" --overwrite --print-every 0 \
      "${args[@]}" 2> "$name.log"
    end=$(date +%s)
    line=$(grep "nst: wrote" "$name.log")
    opt=$(sed -E 's/.*\(loss ([^:]+):.*/\1/' <<< "$line")
    saved=$(sed -E 's/.*[0-9]+ bits: loss ([^:]+): content ([^,]+), style ([^,]+),.*/\1 \3 \2/' <<< "$line")
    read -r st sst sct <<< "$saved"
    echo "| $c | $s | $mode | $opt | $st | $sst | $sct | $((end - start)) |"
  done
done
