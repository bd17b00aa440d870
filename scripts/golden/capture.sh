#!/usr/bin/env bash
# Captures the golden corpus's local logs from THIS machine's auditd (root): a temporary rule
# with a unique key records execve/open/connect of a small workload (failures included), su
# adds PAM USER_* records and a LOGIN, auditctl -m a USER record; the lines written meanwhile
# are copied as the enriched log, stripped of their ENRICHED part as the raw log, and
# re-prefixed with node= names as a multi-node log. Regenerate the goldens afterwards
# (scripts/golden/regenerate.sh). Usage: bash scripts/golden/capture.sh
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "capture: run as root" >&2; exit 1; }
out="$(cd "$(dirname "$0")/../.." && pwd)/packages/audit/test/fixtures"
key="contid-golden-$$"
log=/var/log/audit/audit.log
start=$(stat -c %s "$log")
ino=$(stat -c %i "$log")
auditctl -a always,exit -F arch=b64 -S execve,openat,connect -F ppid=$$ -F key="$key" >/dev/null
trap 'auditctl -d always,exit -F arch=b64 -S execve,openat,connect -F ppid=$$ -F key="$key" >/dev/null 2>&1 || true' EXIT
/bin/true
/bin/echo 'héllo 上 wörld' >/dev/null
/bin/cat /nonexistent/contid-golden 2>/dev/null || true
setpriv --reuid=65534 --regid=65534 --clear-groups /bin/cat /etc/shadow 2>/dev/null || true
/bin/sh -c 'printf "%s" "$1" >/dev/null' sh "$(printf 'esc\033[31mred\a')"
/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>/dev/null || true # connect refused: SOCKADDR
pids=$(mktemp)
( echo "$BASHPID" >> "$pids"; exec su -s /bin/sh nobody -c /bin/true ) || true
( echo "$BASHPID" >> "$pids"; echo 0 > /proc/self/loginuid ) || true # a LOGIN (auid unset -> 0)
auditctl -m "contid golden corpus marker" || true
sleep 3 # auditd writes asynchronously
auditctl -d always,exit -F arch=b64 -S execve,openat,connect -F ppid=$$ -F key="$key" >/dev/null
trap - EXIT
[ "$(stat -c %i "$log")" = "$ino" ] || { echo "capture: auditd rotated the log meanwhile; run again" >&2; exit 1; }
# only whole events of this workload (other suites log meanwhile): every line of a stamp that
# has a line with our key, our marker, one of our pids, or a DAEMON_* record
tail -c +"$((start + 1))" "$log" > "$pids.log"
python3 - "$pids.log" "$key" "$pids" > "$out/golden-local-enriched.log" <<'PY'
import re, sys
lines = open(sys.argv[1], 'rb').read().split(b'\n')
pids = [p.strip() for p in open(sys.argv[3], 'rb').read().split()]
wanted = [b'key="' + sys.argv[2].encode() + b'"', b'contid golden corpus marker', b'type=DAEMON_'] + [b' pid=' + p + b' ' for p in pids]
stamp = lambda l: (re.search(rb'audit\(([0-9.:]+)\)', l) or [None, None])[1]
keep = {stamp(l) for l in lines if any(w in l for w in wanted)} - {None}
sys.stdout.buffer.write(b''.join(l + b'\n' for l in lines if l and stamp(l) in keep))
PY
rm -f "$pids" "$pids.log"
sed 's/\x1d.*//' "$out/golden-local-enriched.log" > "$out/golden-local-raw.log"
awk '{ printf "node=golden-%s %s\n", (NR % 2 ? "a" : "b"), $0 }' "$out/golden-local-raw.log" > "$out/golden-local-nodes.log"
wc -l "$out"/golden-local-*.log
