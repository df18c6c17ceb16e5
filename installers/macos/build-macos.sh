#!/usr/bin/env bash
# Build softphone.app -> softphone-<version>.pkg and softphone-<version>.dmg on macOS.
#
#   installers/macos/build-macos.sh            (from a venv with .[build] installed)
#
# Signing is optional so that anyone can reproduce the build:
#   SOFTPHONE_CODESIGN_IDENTITY  "Developer ID Application: ..."  (default: ad-hoc "-")
#   SOFTPHONE_INSTALLER_IDENTITY "Developer ID Installer: ..."    (default: unsigned pkg)
#   SOFTPHONE_NOTARY_PROFILE     a `xcrun notarytool store-credentials` profile (default: skip)
# The app is always signed with the hardened runtime and entitlements.plist, so an
# ad-hoc build behaves like the released one (microphone prompt included).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$ROOT/build/macos}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$ROOT/softphone/__init__.py")"
IDENTITY="${SOFTPHONE_CODESIGN_IDENTITY:--}"
PKG_ID="org.softphone.agent"

cd "$ROOT"
# The spec signs each binary with the identity when one is given (PyInstaller's codesign_identity).
"$PYTHON" -m PyInstaller installers/softphone.spec --noconfirm \
  --distpath build/dist --workpath build/pyi
APP="$ROOT/build/dist/softphone.app"

# Sign the whole bundle, inside out via --deep, with the hardened runtime: without
# --options runtime notarization fails; without the entitlement the mic is denied.
# Notarization also requires Apple's secure timestamp; an ad-hoc build has no
# identity to timestamp, so only a real identity asks for one.
timestamp=(--timestamp)
[ "$IDENTITY" = "-" ] && timestamp=(--timestamp=none)
codesign --force --deep "${timestamp[@]}" --options runtime \
  --entitlements "$HERE/entitlements.plist" --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict --verbose=2 "$APP"
codesign -d --entitlements - "$APP" | grep -q "com.apple.security.device.audio-input"
/usr/libexec/PlistBuddy -c "Print :NSMicrophoneUsageDescription" "$APP/Contents/Info.plist"

rm -rf "$OUT"; mkdir -p "$OUT"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/root/Applications" "$STAGE/root/Library/Application Support/softphone"
ditto "$APP" "$STAGE/root/Applications/softphone.app"
install -m 0755 "$HERE/uninstall.sh" "$STAGE/root/Library/Application Support/softphone/uninstall.sh"

# Never relocate: by default Installer would update any softphone.app it finds
# elsewhere on the disk (a developer's copy) instead of /Applications.
pkgbuild --analyze --root "$STAGE/root" "$STAGE/component.plist"
plutil -replace BundleIsRelocatable -bool NO "$STAGE/component.plist"
pkgbuild --root "$STAGE/root" --component-plist "$STAGE/component.plist" \
  --scripts "$HERE/scripts" --identifier "$PKG_ID" --version "$VERSION" \
  --install-location / "$STAGE/softphone-component.pkg"

PKG="$OUT/softphone-$VERSION.pkg"
sign_pkg=()
[ -n "${SOFTPHONE_INSTALLER_IDENTITY:-}" ] && sign_pkg=(--sign "$SOFTPHONE_INSTALLER_IDENTITY")
productbuild ${sign_pkg[@]+"${sign_pkg[@]}"} --package "$STAGE/softphone-component.pkg" "$PKG"

# The .dmg carries the app for drag-and-drop installs (and the pkg for IT).
mkdir -p "$STAGE/dmg"
ditto "$APP" "$STAGE/dmg/softphone.app"
cp "$PKG" "$STAGE/dmg/"
ln -s /Applications "$STAGE/dmg/Applications"
DMG="$OUT/softphone-$VERSION.dmg"
hdiutil create -volname "softphone $VERSION" -srcfolder "$STAGE/dmg" -format UDZO -ov "$DMG"
[ "$IDENTITY" = "-" ] || codesign --force --timestamp --sign "$IDENTITY" "$DMG"

if [ -n "${SOFTPHONE_NOTARY_PROFILE:-}" ] && [ "$IDENTITY" = "-" ]; then
  echo "SOFTPHONE_NOTARY_PROFILE needs SOFTPHONE_CODESIGN_IDENTITY: Apple does not notarize ad-hoc signatures" >&2
  exit 1
fi

if [ -n "${SOFTPHONE_NOTARY_PROFILE:-}" ]; then
  for artifact in "$PKG" "$DMG"; do
    xcrun notarytool submit "$artifact" --keychain-profile "$SOFTPHONE_NOTARY_PROFILE" --wait
    xcrun stapler staple "$artifact"
  done
fi
echo "$PKG"
echo "$DMG"
