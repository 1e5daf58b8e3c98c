#!/usr/bin/env bash
# Debian packages the project needs outside PyPI. Installs them when missing and we are root;
# otherwise prints the exact command and fails, so nothing half-works.
#   usage: scripts/system-deps.sh [demo|test]
set -euo pipefail
want=(python3-venv mosquitto fonts-wqy-microhei)  # the font: the hub embeds it in residents' PDF records; legible Chinese screenshots
if [ "${1:-test}" = test ]; then
  want+=(chromium gcc tmux postgresql-client poppler-utils)  # browser tests; the portal tests read its PDFs with pdftotext; the sscard tests compile C; the console at 80×24; the hub backup drill runs pg_dump
  want+=(openssh-server systemd cage nftables sudo)  # provisioning tests: a real sshd; systemd-analyze verify/security; the kiosk unit's compositor; the firewall loaded in a network namespace; an administrator account with sudo, not root
  want+=(systemd-journal-remote)  # the console's journald log source, tested on a journal file it writes (no journald needed)
fi
missing=()
for pkg in "${want[@]}"; do
  case "$pkg" in
    python3-venv) python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=("$pkg") ;;
    mosquitto) { command -v mosquitto || [ -x /usr/sbin/mosquitto ]; } >/dev/null 2>&1 || missing+=("$pkg") ;;
    chromium) [ -x /usr/bin/chromium ] || missing+=("$pkg") ;;
    fonts-wqy-microhei) [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=("$pkg") ;;
    gcc) command -v cc >/dev/null 2>&1 || missing+=("$pkg") ;;
    openssh-server) [ -x /usr/sbin/sshd ] || missing+=("$pkg") ;;
    systemd) command -v systemd-analyze >/dev/null 2>&1 || missing+=("$pkg") ;;
    cage) [ -x /usr/bin/cage ] || missing+=("$pkg") ;;
    systemd-journal-remote) [ -x /lib/systemd/systemd-journal-remote ] || missing+=("$pkg") ;;
    nftables) [ -x /usr/sbin/nft ] || missing+=("$pkg") ;;
    sudo) [ -x /usr/bin/sudo ] || missing+=("$pkg") ;;
    tmux) command -v tmux >/dev/null 2>&1 || missing+=("$pkg") ;;
    postgresql-client) command -v pg_dump >/dev/null 2>&1 || missing+=("$pkg") ;;
    poppler-utils) command -v pdftotext >/dev/null 2>&1 || missing+=("$pkg") ;;
  esac
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
