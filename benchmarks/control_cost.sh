#!/usr/bin/env bash
# What each control costs per iteration (issue 9): the nst command at SIZE px for ITERATIONS
# iterations with each control alone, against the plain run, REPEATS times in turn (so drifts of
# the machine's speed hit every control alike). Prints a Markdown table: median seconds per
# iteration (from the loss log's `seconds` column, the first 2 iterations left out) and the ratio
# to the plain run.
#   benchmarks/control_cost.sh NST WEIGHTS IMAGES_DIR SIZE ITERATIONS REPEATS OUT_DIR
# e.g. benchmarks/control_cost.sh build/nst ../shared/weights/vgg19-conv.safetensors ../shared/images 256 20 2 /tmp/cc
# Tübingen as The Starry Night from the content image; the masks run two styles (The Starry
# Night and The Scream), one per half of the image.
set -euo pipefail
nst=$1 weights=$2 images=$3 size=$4 iterations=$5 repeats=$6 out=$7
mkdir -p "$out"
python3 - "$out" <<'PY'
import struct, sys, zlib
out = sys.argv[1]
def png(path, w, h, pixel):  # 8-bit grayscale
    raw = b"".join(b"\0" + bytes(pixel(x, y) for x in range(w)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
png(f"{out}/left.png", 64, 48, lambda x, y: 255 if x < 32 else 0)
png(f"{out}/right.png", 64, 48, lambda x, y: 0 if x < 32 else 255)
PY
common=(--content "$images/tubingen.jpg" --style "$images/starry_night.jpg" --size "$size" --init content
        --iterations "$iterations" --weights "$weights" --overwrite --print-every 0)
controls=(
  "plain|"
  "--original-colors|--original-colors"
  "--color-match pca|--color-match pca"
  "--optimizer adam|--optimizer adam"
  "--normalize-gradients|--normalize-gradients"
  "--loss-scale relative|--loss-scale relative"
  "--lbfgs-precision float|--lbfgs-precision float"
  "--line-search|--line-search"
  "--style-mask (2 styles)|--style $images/the_scream.jpg --style-mask $out/left.png --style-mask $out/right.png"
  "two styles, no masks|--style $images/the_scream.jpg"
  "--tile 128|--tile 128"
)
for ((r = 0; r < repeats; ++r)); do
  for i in "${!controls[@]}"; do
    IFS='|' read -r name flags <<< "${controls[$i]}"
    # shellcheck disable=SC2086
    "$nst" "${common[@]}" $flags --output "$out/$i.png" --loss-log "$out/$i.$r.csv" 2> "$out/$i.$r.log" ||
      { echo "control_cost: '$name' failed, see $out/$i.$r.log" >&2; exit 1; }
  done
done
python3 - "$out" "$repeats" "${controls[@]}" <<'PY'
import csv, statistics, sys
out, repeats, controls = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def per_iteration(path):
    with open(path) as f:
        t = [float(r["seconds"]) for r in csv.DictReader(f) if r["iteration"] != "saved"]
    d = [b - a for a, b in zip(t, t[1:])][2:]
    return statistics.median(d)
rows = []
for i, c in enumerate(controls):
    name = c.split("|")[0]
    rows.append((name, statistics.median(per_iteration(f"{out}/{i}.{r}.csv") for r in range(repeats))))
plain = rows[0][1]
print("| control | s/iteration | × plain |")
print("|---|---|---|")
for name, s in rows:
    print(f"| {name} | {s:.3f} | {s / plain:.2f} |")
PY
