#!/usr/bin/env bash
# Downloads torchvision-trained VGG19 weights in safetensors format (timm/vgg19.tv_in1k,
# BSD-3-Clause, 575 MB including classifier tensors that nst ignores) to weights/vgg19.safetensors,
# the file nst uses by default. Needs curl and internet access.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/vgg19.safetensors"
url="https://huggingface.co/timm/vgg19.tv_in1k/resolve/main/model.safetensors"
if [ -e "$dest" ]; then
  echo "$dest exists; remove it first to download again" >&2
  exit 1
fi
tmp="$(mktemp "$here/.vgg19.safetensors.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
echo "downloading $url" >&2
curl --fail --location --retry 3 --output "$tmp" "$url"
mv "$tmp" "$dest"
trap - EXIT
echo "wrote $dest ($(stat -c %s "$dest") bytes); nst reads it by default" >&2
