#!/bin/sh
# Remakes the gallery from the repository root: sh docs/gallery/make_gallery.sh
# Needs ${NST_BIN:-./build/nst} and ../shared (weights and images). Sizes and iterations are modest on
# purpose (the images were made on a shared 2-core machine).
set -e
I=../shared/images
NST="nice -n 5 ${NST_BIN:-./build/nst} --weights ../shared/weights/vgg19-conv.safetensors --jpeg-quality 85 --print-every 50 --overwrite"
G=docs/gallery
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --output $G/plain.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --original-colors --output $G/original_colors.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/the_scream.jpg --size 192 --iterations 80 --init content --color-match pca --output $G/color_match_pca.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --style $I/shipwreck.jpg --style-mask $G/masks/upper_left.png --style-mask $G/masks/lower_right.png --size 192 --iterations 80 --init content --output $G/masks.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --optimizer adam --learning-rate 10 --output $G/adam.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 256 --start-size 128 --scale-iterations 30 --iterations 40 --init content --output $G/multiscale_256.jpg
