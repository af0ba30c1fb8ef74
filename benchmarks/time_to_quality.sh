#!/usr/bin/env bash
# Time to quality, multi-scale against single-scale (issue 9): the wall time until the full-size
# image reaches the total loss that a single-scale run of ITERATIONS ends with.
#   benchmarks/time_to_quality.sh NST WEIGHTS IMAGES_DIR SIZE ITERATIONS START_SIZE SCALE_ITERATIONS OUT_DIR
# e.g. benchmarks/time_to_quality.sh build/nst ../shared/weights/vgg19-conv.safetensors ../shared/images 512 300 256 100 /tmp/ttq
# Both runs: Tübingen as The Starry Night, nst's defaults otherwise (random start, seed 0).
# Wall times depend on the machine's load; the iteration counts do not (results are
# deterministic), so the table also gives each scale's iterations and a cost model in
# full-size iterations (an iteration at side s costs about (s/SIZE)^2 of one at SIZE).
# SINGLE_LOG=FILE (environment) takes the single-scale run's loss log from FILE instead of running
# it, e.g. lbfgs_modes.sh's tubingen/starry_night displacement run at the same SIZE and ITERATIONS
# (same settings: nst's defaults); its wall times then come from that run.
# SIDE_BY_SIDE=1 (environment) runs the two at the same time, so that both see the same machine
# (e.g. with OMP_NUM_THREADS=1 on a 2-core machine: one core each); by default one after the other.
set -euo pipefail
nst=$1 weights=$2 images=$3 size=$4 iterations=$5 start=$6 scale_iterations=$7 out=$8
mkdir -p "$out"
common=(--content "$images/tubingen.jpg" --style "$images/starry_night.jpg" --size "$size"
        --iterations "$iterations" --weights "$weights" --overwrite --print-every 0)
single=
if [[ -n ${SINGLE_LOG:-} ]]; then
  cp "$SINGLE_LOG" "$out/single.csv"
elif [[ ${SIDE_BY_SIDE:-0} == 1 ]]; then
  "$nst" "${common[@]}" --output "$out/single.png" --loss-log "$out/single.csv" 2> "$out/single.log" &
  single=$!
else
  "$nst" "${common[@]}" --output "$out/single.png" --loss-log "$out/single.csv" 2> "$out/single.log"
fi
"$nst" "${common[@]}" --start-size "$start" --scale-iterations "$scale_iterations" \
  --output "$out/multi.png" --loss-log "$out/multi.csv" 2> "$out/multi.log"
[[ -z $single ]] || wait "$single"
python3 - "$out" "$size" <<'PY'
import csv, sys
out, size = sys.argv[1], int(sys.argv[2])
def rows(name):
    with open(f"{out}/{name}.csv") as f:
        return [r for r in csv.DictReader(f) if r["iteration"] != "saved"]
single, multi = rows("single"), rows("multi")
target = float(single[-1]["total"])
print(f"target: the single-scale run's last loss, {target:.6g} after {len(single)} iterations, {float(single[-1]['seconds']):.1f} s")
def first_reaching(rs, full_only):
    for r in rs:
        if full_only and int(r["size"]) != size:
            continue
        if float(r["total"]) <= target:
            return r
    return None
hit_single = first_reaching(single, False)
hit_multi = first_reaching(multi, True)
sizes = []
for r in multi:
    s = int(r["size"])
    if not sizes or sizes[-1][0] != s:
        sizes.append([s, 0])
    sizes[-1][1] += 1
def cost(rs, upto):  # full-size-iteration equivalents up to and including row `upto`
    c = 0.0
    for r in rs:
        c += (int(r.get("size") or size) / size) ** 2
        if r is upto:
            break
    return c
print("| run | iterations per scale | reaches the target at | wall s | cost in full-size iterations |")
print("|---|---|---|---|---|")
print(f"| single-scale {size} px | {len(single)} | iteration {hit_single['iteration']} | {float(hit_single['seconds']):.1f} | {cost(single, hit_single):.1f} |")
plan = ", ".join(f"{s} px: {n}" for s, n in sizes)
if hit_multi:
    print(f"| multi-scale from {sizes[0][0]} px | {plan} | iteration {hit_multi['iteration']} (of all scales) | {float(hit_multi['seconds']):.1f} | {cost(multi, hit_multi):.1f} |")
else:
    print(f"| multi-scale from {sizes[0][0]} px | {plan} | not reached (last {float(multi[-1]['total']):.6g}) | {float(multi[-1]['seconds']):.1f} | {cost(multi, multi[-1]):.1f} |")
PY
