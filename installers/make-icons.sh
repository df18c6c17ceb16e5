#!/usr/bin/env bash
# Render resources/icons/softphone.svg to the PNG sizes the installers use, the
# Windows .ico and the macOS .icns (apt-get install librsvg2-bin imagemagick icnsutils).
set -euo pipefail
cd "$(dirname "$0")/../resources/icons"
for size in 16 24 32 48 64 128 256 512; do
  rsvg-convert -w "$size" -h "$size" softphone.svg -o "softphone-$size.png"
done
convert softphone-16.png softphone-24.png softphone-32.png softphone-48.png softphone-64.png \
  softphone-256.png softphone.ico
png2icns softphone.icns softphone-16.png softphone-32.png softphone-48.png softphone-128.png \
  softphone-256.png softphone-512.png >/dev/null
