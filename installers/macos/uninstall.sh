#!/bin/bash
# Removes softphone completely (macOS has no package uninstaller):
#   sudo "/Library/Application Support/softphone/uninstall.sh"
# Per-user data (settings, logs, keychain items) is kept unless --purge-user-data
# is given; it lives in each user's home and is removed for the calling user only.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "run with sudo" >&2
  exit 1
fi
rm -rf "/Applications/softphone.app" "/Library/Application Support/softphone"
rm -f "/Library/LaunchAgents/org.softphone.agent.plist"
pkgutil --forget org.softphone.agent >/dev/null 2>&1 || true
if [ "${1:-}" = "--purge-user-data" ] && [ -n "${SUDO_USER:-}" ]; then
  home="$(dscl . -read "/Users/$SUDO_USER" NFSHomeDirectory | awk '{print $2}')"
  rm -rf "$home/Library/Application Support/softphone" "$home/Library/Logs/softphone" \
         "$home/Library/Caches/softphone" "$home/Library/Preferences/softphone"
fi
echo "softphone removed"
