#!/usr/bin/env bash
# The main job end to end: tag a process tree as a container on the real kernel, let it
# work, and show every audit event attributed to it — next to a process that is not in it.
set -euo pipefail
cd "$(dirname "$0")/.."
contid() { node packages/cli/dist/main.js "$@"; }

key="contid-demo-$$"
name="demo-web-$(date +%H%M%S)"
auditctl -a always,exit -F arch=b64 -S execve -k "$key" >/dev/null
trap 'auditctl -d always,exit -F arch=b64 -S execve -k "$key" >/dev/null 2>&1 || true' EXIT

echo "== 1. contid exec: a fresh audit session, bound to a new container ID, then exec"
contid exec --name "$name" --orchestrator demo -- sh -c 'echo "   inside: pid $$, audit session $(cat /proc/self/sessionid)"; id -un >/dev/null; ls / >/dev/null; cat /etc/hostname >/dev/null'
echo "   outside (not in the container): ls"; ls / >/dev/null

echo; echo "== 2. the registry knows it"
contid show "$name"

echo; echo "== 3. the audit trail carries it: contid's lifecycle record, found by ausearch --vm-name"
for _ in $(seq 50); do ausearch --vm-name "$name" >/dev/null 2>&1 && break; sleep 0.2; done
ausearch --vm-name "$name" --raw | grep -v '^----'

echo; echo "== 4. what did $name do? every audit event attributed to it (contid search)"
sleep 1 # auditd flushes asynchronously
contid search --container "$name" -k "$key" --interpret
echo; echo "== 5. the same as JSON in Elastic Common Schema, first event"
contid search --container "$name" -k "$key" --format ecs | head -1
