#!/usr/bin/env bash
# Wait for a process running a given executable, then exec the tracer on it with --pid.
#
#   docker-find-pid.sh EXE [TRACER ARGS...]
#
# EXE is either a path as the target process itself sees it (`/usr/local/bin/sessions`: the
# kernel reports /proc/PID/exe inside the target's own mount namespace, so this matches a
# binary in another container) or a bare name matched against the base name of every
# /proc/PID/exe. Every matching process is passed as one `--pid PID`; then this script execs
#
#   node <repo>/dist/receiver/cli.js TRACER ARGS... --pid PID [--pid PID ...]
#
# It exists for docker-compose.yml: the tracer runs in its own container with `pid: host`, so it
# sees the example service's process in /proc but not its file system. `--exe PATH` would need
# the binary's path in the tracer's own file system; `--pid` goes through /proc/PID/exe, which
# works across containers. `run` exits once its --pid targets have exited, and the compose
# restart policy starts this script again, which waits for the next instance.
#
# Environment:
#   MDT_WAIT_SECONDS  give up (exit 3) after this many seconds without a match (default 300;
#                     0 = wait forever)
#   MDT_POLL_SECONDS  seconds between scans of /proc (default 1)
#   MDT_TRACER        command to exec instead of `node <repo>/dist/receiver/cli.js` (split on
#                     spaces), e.g. for tests
#   MDT_PROC          the proc file system to scan (default /proc; for tests)
#
# Reading another user's /proc/PID/exe needs CAP_SYS_PTRACE: without it, no process of another
# user (or with more capabilities) ever matches, and the message on timeout says so.
set -euo pipefail

die() { printf 'docker-find-pid: %s\n' "$1" >&2; exit "${2:-2}"; }

[[ $# -ge 1 && -n "$1" ]] || die "usage: docker-find-pid.sh EXE [TRACER ARGS...]"
want="$1"
shift

wait_s="${MDT_WAIT_SECONDS:-300}"
poll_s="${MDT_POLL_SECONDS:-1}"
proc="${MDT_PROC:-/proc}"
[[ "$wait_s" =~ ^[0-9]+$ ]] || die "MDT_WAIT_SECONDS must be a whole number of seconds, not '$wait_s'"
[[ "$poll_s" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "MDT_POLL_SECONDS must be a number of seconds, not '$poll_s'"

if [[ -n "${MDT_TRACER:-}" ]]; then
  read -r -a tracer <<<"$MDT_TRACER"
else
  here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  tracer=(node "$here/../dist/receiver/cli.js")
fi

# Prints the PIDs whose executable matches, one a line, in ascending order.
scan() {
  local d pid exe
  for d in "$proc"/[0-9]*; do
    pid="${d##*/}"
    [[ "$pid" == "$$" ]] && continue
    exe="$(readlink "$d/exe" 2>/dev/null)" || continue # kernel thread, gone, or not permitted
    exe="${exe% (deleted)}"
    if [[ "$want" == */* ]]; then
      [[ "$exe" == "$want" ]] || continue
    else
      [[ "${exe##*/}" == "$want" ]] || continue
    fi
    printf '%s\n' "$pid"
  done | sort -n
}

start=$SECONDS
announced=""
while :; do
  mapfile -t pids < <(scan)
  if [[ ${#pids[@]} -gt 0 ]]; then
    args=()
    for p in "${pids[@]}"; do args+=(--pid "$p"); done
    printf 'docker-find-pid: %s is running as PID %s; starting the tracer\n' "$want" "${pids[*]}" >&2
    exec "${tracer[@]}" "$@" "${args[@]}"
  fi
  if [[ -z "$announced" ]]; then
    printf 'docker-find-pid: waiting for a process running %s\n' "$want" >&2
    announced=1
  fi
  if [[ "$wait_s" -gt 0 && $((SECONDS - start)) -ge "$wait_s" ]]; then
    hint=""
    [[ "$(id -u)" == 0 ]] || hint=" (not root: other users' processes are invisible)"
    die "no process running $want after ${wait_s}s$hint; is the target started, and does this container have pid: host and CAP_SYS_PTRACE?" 3
  fi
  sleep "$poll_s"
done
