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
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --normalize-gradients --output $G/normalize_gradients.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --loss-scale relative --output $G/loss_scale_relative.jpg
echo "== $(date -u +%T)"; $NST --content $I/tubingen.jpg --style $I/starry_night.jpg --size 192 --iterations 80 --init content --clamp --output $G/clamp.jpg
# Multi-scale at 1024 px (5 scales, 40 iterations each; about 10 minutes on 2 quiet cores). JPEG
# quality 50 keeps it under 200 KB.
echo "== $(date -u +%T)"; nice -n 5 ${NST_BIN:-./build/nst} --weights ../shared/weights/vgg19-conv.safetensors --jpeg-quality 50 --print-every 20 --overwrite --content $I/tubingen.jpg --style $I/starry_night.jpg --size 1024 --start-size 256 --scale-iterations 40 --iterations 40 --init content --output $G/multiscale_1024.jpg
