#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run
# the linters and the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # Real SIP peers and servers for the tests
  kamailio kamailio-presence-modules kamailio-sqlite-modules kamailio-tls-modules
  kamailio-utils-modules sip-tester baresip-core linphone-cli openssl
  # A real PortAudio device path without hardware (PulseAudio null sinks)
  libportaudio2 pulseaudio pulseaudio-utils alsa-utils libasound2-plugins
  # Qt under Xvfb for the real-window tests and screenshots
  xvfb xauth x11-utils libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1
  libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-xinerama0 libxcb-image0 fonts-dejavu-core
  # The .deb test: build and install the package, find its window under Xvfb
  xdotool desktop-file-utils libx11-xcb1 libxcb-xfixes0 libxcb-xkb1
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

# Every tool above is installed now: a test that cannot find one fails
# instead of skipping (tests/helpers/tools.py).
export SOFTPHONE_REQUIRE_TOOLS=1

echo "== ruff"; .venv/bin/ruff check softphone tests bench
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; exec .venv/bin/python -m pytest "$@"
