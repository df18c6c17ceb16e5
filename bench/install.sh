#!/bin/sh
# Installs the benchmark peers and tools from Debian's packages (Debian 12, as root).
#   baresip-core           baresip 1.0 (headless peer, call-setup peer)
#   linphone-cli           linphonec / linphone-daemon 5.1 (headless peer)
#   linphone-desktop       linphone-desktop 4.4 (GUI peer)
#   twinkle                twinkle 1.10 (GUI peer)
#   kamailio + modules     the registrar/proxy every figure goes through
#   xvfb, x11-utils,
#   xdotool, dbus          GUI peers and our GUI under Xvfb (xwininfo, dbus-run-session)
#   tcpdump                "registered" = first 200 OK to REGISTER seen on the wire
#   procps                 ps/uptime/free for the machine description
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "run as root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
PKGS="kamailio kamailio-presence-modules kamailio-tls-modules kamailio-utils-modules
      baresip-core linphone-cli linphone-desktop twinkle
      xvfb x11-utils xdotool dbus dbus-x11 tcpdump procps util-linux openssl"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "bench peers: everything installed"
    exit 0
fi
echo "bench peers: installing$missing"
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
