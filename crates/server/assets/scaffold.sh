#!/usr/bin/env bash
# Default extension created by Trellis for a user-defined extension that has no executable yet.
# It answers every standard action so the extension is callable at once; replace it with your own.
# Contract: <this> <action> <payload.json> <timeout-seconds>; exit code 0 = success; one JSON
# document on stdout; stderr is only logged. Needs bash and coreutils; uses jq when present.
set -u

fail() { printf '{"status":"error","error":"%s"}\n' "$1"; exit 1; }

[ $# -ge 3 ] || fail "Missing required arguments"
action=$1
payload_file=$2
[ -r "$payload_file" ] || fail "File not found or unreadable"
payload=$(cat "$payload_file")
case "$payload" in
  \{*\}) ;;
  *) fail "Invalid JSON input" ;;
esac
if command -v jq >/dev/null 2>&1; then
  jq -e . >/dev/null 2>&1 <<<"$payload" || fail "Invalid JSON input"
fi

state_dir="${TRELLIS_SCAFFOLD_STATE_DIR:-$(dirname "$0")/.state}"

field() { # first string value of a top-level-ish key
  local v
  v=$(grep -o "\"$1\":\"[^\"]*\"" <<<"$payload" | head -n 1)
  v=${v#*\":\"}
  printf '%s' "${v%\"}"
}

vm_name=$(field virtualmachinename)

set_power() {
  [ -n "$vm_name" ] || return 0
  mkdir -p "$state_dir" && printf '%s' "$1" >"$state_dir/$vm_name"
}

random_mac() {
  printf '52:54:00:%02x:%02x:%02x' $((RANDOM % 256)) $((RANDOM % 256)) $((RANDOM % 256))
}

nic_uuids() {
  if command -v jq >/dev/null 2>&1; then
    jq -r '."cloudstack.vm.details".nics // [] | .[].uuid' <<<"$payload"
  else
    local nics
    nics=$(grep -o '"nics":\[[^]]*\]' <<<"$payload" | head -n 1)
    grep -o '"uuid":"[^"]*"' <<<"$nics" | sed 's/"uuid":"//; s/"$//'
  fi
}

case "$action" in
  prepare)
    out=""
    for u in $(nic_uuids); do
      [ -n "$out" ] && out="$out,"
      out="$out{\"uuid\":\"$u\",\"mac\":\"$(random_mac)\"}"
    done
    if [ -n "$out" ]; then printf '{"nics":[%s]}\n' "$out"; else echo ""; fi
    ;;
  create) set_power poweron; echo '{"status":"success","message":"Instance created"}' ;;
  start) set_power poweron; echo '{"status":"success","message":"Instance started"}' ;;
  stop) set_power poweroff; echo '{"status":"success","message":"Instance stopped"}' ;;
  reboot) set_power poweron; echo '{"status":"success","message":"Instance rebooted"}' ;;
  delete)
    [ -n "$vm_name" ] && rm -f "$state_dir/$vm_name"
    echo '{"status":"success","message":"Instance deleted"}'
    ;;
  status)
    state=poweron
    [ -n "$vm_name" ] && [ -f "$state_dir/$vm_name" ] && state=$(cat "$state_dir/$vm_name")
    printf '{"status":"success","power_state":"%s"}\n' "$state"
    ;;
  statuses)
    out=""
    if [ -d "$state_dir" ]; then
      for f in "$state_dir"/*; do
        [ -f "$f" ] || continue
        [ -n "$out" ] && out="$out,"
        out="$out\"$(basename "$f")\":\"$(cat "$f")\""
      done
    fi
    printf '{"status":"success","power_state":{%s}}\n' "$out"
    ;;
  getconsole) fail "Operation not supported" ;;
  *) fail "Invalid action" ;;
esac
