# contid-tag.sh: the one tagging step of contid's hot path, shared by contid-runc (the OCI
# runtime shim) and contid-spawn (any orchestrator). POSIX sh, sourced, no Node and no fork on
# the success path except one `cat` for a large copied file (config.json on create): it runs
# before every container start and every exec, and under load each extra process waits for a
# CPU before the container can.
#
# The step: renew this shell's own audit session (only a process may write its own loginuid;
# everything it execs inherits the new session), then write one spool entry that `contid serve`
# turns into a container ID, a registry row and a binding record. Writing the entry's last
# line is the commit point: a tag is promised only once the entry is complete on disk, so
# CONTID_FAIL_POLICY=closed refuses to start anything whose entry could not be written.
#
# Callers set contid_self (the program name in messages) and contid_what (what fail-closed
# refuses to start), then call contid_settings, contid_renew and contid_spool_write.
# The spool grammar (version 1) is specified in packages/oci/SPOOL.md and table-tested from
# packages/oci/test/fixtures/spool on this side and on the TypeScript side.

contid_nl='
'

contid_settings() {
  contid_spool=${CONTID_SPOOL_DIR:-${CONTID_STATE_DIR:-/var/lib/contid}/spool}
  contid_policy=${CONTID_FAIL_POLICY:-open}
  contid_reason=
  contid_json_log=
  # The copy of a large file (--cat) is the one fork on the create path: a statically linked
  # busybox (Debian's busybox-static; scripts/setup-host.sh installs it) starts without the
  # dynamic loader, so it costs less CPU than coreutils' cat before the container can start.
  contid_static_cat=
  [ -x /bin/busybox ] && contid_static_cat=1
}

# contid_esc STRING: STRING as one printable line, for a caller's path or name in a message:
# \t \n \r \\ named and every other byte outside printable ASCII as \xHH (the ASCII of
# packages/core's escapeText; bytes, not UTF-8, so a C1 control, a bidi override or a broken
# sequence is escaped with the rest), as the compiled shim's esc() (contid-runc.c). It forks
# od: only on the way out.
contid_esc() {
  for contid_h in $(printf '%s' "$1" | od -An -v -tx1); do
    case $contid_h in
      09) printf '\\t' ;;
      0a) printf '\\n' ;;
      0d) printf '\\r' ;;
      5c) printf '\\\\' ;;
      2? | 3? | 4? | 5? | 6? | 7[0-9a-e]) printf '%b' "\\0$((0x$contid_h >> 6))$((0x$contid_h >> 3 & 7))$((0x$contid_h & 7))" ;;
      *) printf '\\x%s' "$contid_h" ;;
    esac
  done
}

# contid_fail REASON: fail-closed prints one line and exits 1 before anything starts;
# fail-open keeps the first reason, which the entry then carries as op=fail. (printf, not
# dash's echo, which would turn an escaped \n back into a newline.)
contid_fail() {
  if [ "$contid_policy" = closed ]; then
    set -- "$contid_self: $1 (CONTID_FAIL_POLICY=closed: not starting $contid_what)"
    printf '%s\n' "$1" >&2
    # containerd and CRI-O show a runtime's error from its --log file (JSON lines), not stderr.
    if [ -n "$contid_json_log" ]; then
      printf '{"level":"error","msg":"%s","time":"%s"}\n' "$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$contid_json_log"
    fi
    exit 1
  fi
  [ -n "$contid_reason" ] || contid_reason=$1
}

# contid_renew [AUID]: sets contid_old (the session before), contid_new (after; equal to
# contid_old when renewal failed, or was not tried because an earlier step already failed) and
# contid_auid: AUID when given (a requester the caller vouches for), else kept — the caller's
# own login uid; only an unset one is replaced by CONTID_LOGIN_UID, default 0.
contid_renew() {
  contid_old=
  contid_auid=
  # /proc/self/sessionid and loginuid end without a newline: read sets the variable and
  # returns 1, so its status says nothing; the value is checked instead.
  { read -r contid_old </proc/self/sessionid; read -r contid_auid </proc/self/loginuid; } 2>/dev/null
  contid_new=$contid_old
  case $contid_old$contid_auid in
    '' | *[!0-9]*)
      contid_fail "cannot read this process's audit session (/proc/self/sessionid, /proc/self/loginuid)"
      return
      ;;
  esac
  [ "$contid_auid" = 4294967295 ] && contid_auid=${CONTID_LOGIN_UID:-0}
  [ -n "$1" ] && contid_auid=$1
  [ -z "$contid_reason" ] || return
  # The shell writes its own loginuid (a builtin, no fork): the kernel allocates a new session.
  if ! { echo "$contid_auid" >/proc/self/loginuid; } 2>/dev/null; then
    contid_fail "cannot renew the audit session (needs CAP_AUDIT_CONTROL; loginuid_immutable must be off)"
    return
  fi
  read -r contid_new </proc/self/sessionid
  [ "$contid_new" != "$contid_old" ] || contid_fail "the kernel did not give a new audit session (still $contid_new)"
}

# contid_spool_write KEY OP FIELD=VALUE… [-- LABEL=FILE…] [--cat LABEL=FILE…]: one complete
# entry named KEY-OP-PID.entry (KEY, a session number, orders the entries). Values are single
# lines (refused otherwise: a newline would forge the fields after it). Each readable FILE is
# copied as a `--- LABEL` section: after `--` by the shell's own `read` (no fork; for small
# files such as runc exec's process.json, since dash reads one byte per system call), after
# `--cat` by one `cat` each (busybox's when installed; large files: config.json with a seccomp
# profile is 10–20 KB).
# The entry is written in place, and its last line, `--- end`, is the commit point: a consumer
# leaves an entry without it where it is, and the write that completes it wakes a pass. Without
# --cat sections that is one write (the name holds nothing, just created, or all of it); with
# them the head, each cat and the end are written in turn — no temporary name and no `mv`
# (a fork on every create). No fsync: the consumer reads the page cache; after a crash the
# sessions an entry names are gone with the boot, and an entry left without its last line is
# quarantined, never bound. Returns 1 (after removing the partial entry) on failure.
contid_spool_write() {
  contid_entry="$contid_spool/$1-$2-$$.entry"
  contid_buf="contid-spool 1${contid_nl}op=$2$contid_nl"
  shift 2
  while [ $# -gt 0 ]; do
    case $1 in
      -- | --cat) break ;;
      *"$contid_nl"*) contid_write_error="the value of ${1%%=*} spans lines" && return 1 ;;
    esac
    contid_buf=$contid_buf$1$contid_nl
    shift
  done
  if ! { [ -d "$contid_spool" ] || (umask 077 && mkdir -p "$contid_spool"); } 2>/dev/null; then
    contid_write_error="cannot create the spool $contid_spool"
    return 1
  fi
  contid_write_error="cannot write the spool entry in $contid_spool"
  contid_cat=
  for contid_kv; do
    case $contid_kv in
      --) continue ;;
      --cat) contid_cat=1 && continue ;;
    esac
    [ -n "$contid_cat" ] && break
    contid_file=${contid_kv#*=}
    [ -r "$contid_file" ] || continue
    # Only a regular file: dash's read cannot tell a read error (a directory) from its end.
    [ -f "$contid_file" ] || return 1
    contid_buf="$contid_buf--- ${contid_kv%%=*}$contid_nl"
    contid_line=
    {
      while IFS= read -r contid_line; do
        contid_buf=$contid_buf$contid_line$contid_nl
        contid_line=
      done <"$contid_file"
    } 2>/dev/null || return 1
    # The last line may lack its newline (read then returns 1 with the text set).
    contid_buf=$contid_buf$contid_line$contid_nl
  done
  # Each builtin's output is one write: the head goes with the first cat section's label, the
  # newline after each copied file with the next label or the end.
  contid_copied=0
  {
    contid_cat=
    for contid_kv; do
      [ "$contid_kv" = --cat ] && contid_cat=1 && continue
      [ -n "$contid_cat" ] && [ -r "${contid_kv#*=}" ] || continue
      printf '%s--- %s\n' "$contid_buf" "${contid_kv%%=*}"
      contid_buf=$contid_nl
      if [ -n "$contid_static_cat" ]; then
        /bin/busybox cat -- "${contid_kv#*=}" || contid_copied=1
      else
        cat -- "${contid_kv#*=}" || contid_copied=1
      fi
    done
    [ "$contid_copied" = 0 ] && printf '%s--- end\n' "$contid_buf"
  } 2>/dev/null >"$contid_entry" && [ "$contid_copied" = 0 ] && return 0
  rm -f "$contid_entry"
  return 1
}
