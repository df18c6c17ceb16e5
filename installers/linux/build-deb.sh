#!/usr/bin/env bash
# Build build/deb/softphone_<version>_<arch>.deb from the PyInstaller one-folder
# bundle, with plain dpkg-deb (no debhelper: the bundle is already built).
#
#   installers/linux/build-deb.sh [BUNDLE_DIR] [OUT_DIR]
#
# BUNDLE_DIR defaults to build/dist/softphone (pyinstaller installers/softphone.spec
# --distpath build/dist). DEB_COMPRESSION (xz, gzip, zstd, none; default xz) and
# DEB_COMPRESSION_LEVEL trade size for build time (the tests use gzip -1).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUNDLE="${1:-$ROOT/build/dist/softphone}"
OUT="${2:-$ROOT/build/deb}"
COMPRESSION="${DEB_COMPRESSION:-xz}"
LEVEL="${DEB_COMPRESSION_LEVEL:-6}"

[ -x "$BUNDLE/softphone" ] || { echo "no bundle at $BUNDLE (run pyinstaller first)" >&2; exit 1; }
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/softphone/__init__.py")"
ARCH="$(dpkg --print-architecture)"
ICONS="$ROOT/resources/icons"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/softphone-deb.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/pkg"

# The application: self-contained under /opt so it never mixes with distro files.
mkdir -p "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" "$PKG/usr/share/doc/softphone"
cp -a "$BUNDLE" "$PKG/opt/softphone"
# A symlink is enough: the PyInstaller bootloader finds its folder via /proc/self/exe.
ln -s /opt/softphone/softphone "$PKG/usr/bin/softphone"
install -m 0644 "$HERE/softphone.desktop" "$PKG/usr/share/applications/softphone.desktop"
for size in 16 24 32 48 64 128 256 512; do
  install -D -m 0644 "$ICONS/softphone-$size.png" \
    "$PKG/usr/share/icons/hicolor/${size}x${size}/apps/softphone.png"
done
install -D -m 0644 "$ICONS/softphone.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/softphone.svg"
install -m 0644 "$ROOT/installers/LICENSE.txt" "$PKG/usr/share/doc/softphone/copyright"
if [ -f "$ROOT/docs/deployment.md" ]; then
  install -m 0644 "$ROOT/docs/deployment.md" "$PKG/usr/share/doc/softphone/deployment.md"
fi
if [ -f "$ROOT/resources/provisioning.example.toml" ]; then
  install -D -m 0644 "$ROOT/resources/provisioning.example.toml" \
    "$PKG/usr/share/doc/softphone/examples/provisioning.example.toml"
fi

# Normalise permissions: a umask or a build cache must not leak into the package.
find "$PKG" -type d -exec chmod 0755 {} +
find "$PKG" -type f -exec chmod go-w,a+r {} +

mkdir -p "$PKG/DEBIAN"
installed_kb="$(du -sk --apparent-size "$PKG" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
  "$HERE/control.in" > "$PKG/DEBIAN/control"
install -m 0755 "$HERE/postinst" "$HERE/postrm" "$PKG/DEBIAN/"
(cd "$PKG" && find opt usr -type f -print0 | sort -z | xargs -0 md5sum) > "$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB="$OUT/softphone_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Z"$COMPRESSION" -z"$LEVEL" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
