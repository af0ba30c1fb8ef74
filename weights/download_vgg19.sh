#!/usr/bin/env bash
# Downloads the original Caffe VGG19 (CC BY 4.0) and converts it to weights/vgg19.safetensors,
# the file nst reads by default; falls back to torchvision's VGG19 if that host is down.
# Needs python3 (standard library only) and internet access. See download_vgg.py --help.
exec python3 "$(dirname "$0")/download_vgg.py" --model vgg19 "$@"
