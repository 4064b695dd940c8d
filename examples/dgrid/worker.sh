#!/usr/bin/env bash
# D-GRID worker: claim a task from the queue, run it under its timeout, record the outcome and
# its output with `gridctl queue complete|fail`, repeat.
#
#   ./worker.sh            run forever; sleep IDLE_SLEEP seconds whenever the queue is empty
#   ./worker.sh --drain    stop once the queue is empty
#   ./worker.sh --once     one task at most, then stop
#
# Environment (all optional):
#   NODE          this worker's id, recorded in every task it takes (default: the host name)
#   QUEUE         the queue's name in the manifest (default: jobs)
#   GRIDCTL_FILE  the manifest (default: grid.yaml beside this script)
#   GRIDCTL       how to run gridctl (default: gridctl; e.g. "python -m gridctl")
#   GRIDCTL_ARGS  extra options for every queue command (e.g. --sandbox, or --account worker1)
#   IDLE_SLEEP    seconds to wait when the queue is empty or GitHub cannot be reached (default: 30)
# plus the token the manifest names for the queue's account (GRID_TOKEN_DGRID_COORD).
#
# A task's script runs with bash, its command without a shell, in a fresh folder, with TASK_ID
# and TASK_FILE (the task as JSON) in the environment; after `timeout` seconds it gets SIGTERM,
# then SIGKILL. Exit status 0 completes the task, anything else fails it; either way its output
# (stdout and stderr, then a last line with the exit status) is kept as <task_id>.result in
# the repository. A worker that dies mid-task leaves it in_progress/: `gridctl queue reap`
# hands it to another worker once the queue's orphan_after has passed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
read -r -a gridctl <<< "${GRIDCTL:-gridctl}"
read -r -a extra <<< "${GRIDCTL_ARGS:-}"
file=${GRIDCTL_FILE:-$here/grid.yaml}
queue=${QUEUE:-jobs}
node=${NODE:-$(hostname -s 2>/dev/null || hostname)}
idle=${IDLE_SLEEP:-30}
mode=${1:-}
case "$mode" in ""|--drain|--once) ;; *) echo "usage: $0 [--drain|--once]" >&2; exit 2 ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/dgrid-worker.XXXXXX")
trap 'rm -rf "$work"' EXIT

q() { "${gridctl[@]}" queue "$@" -f "$file" "${extra[@]}"; }
log() { echo "worker $node: $*" >&2; }

while :; do
  q claim "$queue" --node "$node" > "$work/task.json"
  rc=$?
  if [ "$rc" -eq 3 ]; then                       # the queue is empty
    [ -n "$mode" ] && exit 0
    sleep "$idle"; continue
  elif [ "$rc" -ne 0 ]; then
    log "claim failed (exit $rc); trying again in ${idle}s"
    [ "$mode" = --once ] && exit 1
    sleep "$idle"; continue
  fi

  # task_id and timeout on one line; the script (or the command's arguments, NUL-separated) in files
  rm -rf "$work/run" "$work/script" "$work/argv" && mkdir "$work/run"
  read -r task_id timeout_s < <(python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
task = json.load(open(f"{work}/task.json"))
if "script" in task:
    open(f"{work}/script", "w").write(task["script"])
else:
    open(f"{work}/argv", "wb").write(b"".join(a.encode() + b"\0" for a in task["command"]))
print(task["task_id"], task["timeout"])
PY
  )
  log "running $task_id (timeout ${timeout_s}s)"
  if [ -f "$work/script" ]; then
    (cd "$work/run" && TASK_ID=$task_id TASK_FILE=$work/task.json timeout --kill-after=10 "$timeout_s" bash "$work/script") > "$work/output" 2>&1
  else
    mapfile -d '' -t argv < "$work/argv"
    (cd "$work/run" && TASK_ID=$task_id TASK_FILE=$work/task.json timeout --kill-after=10 "$timeout_s" "${argv[@]}") > "$work/output" 2>&1
  fi
  status=$?
  if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "[worker $node] killed after its timeout of ${timeout_s}s (exit status $status)" >> "$work/output"
  else
    echo "[worker $node] exit status $status" >> "$work/output"
  fi
  if [ "$status" -eq 0 ]; then verb=complete outcome=completed; else verb=fail outcome=failed; fi

  q "$verb" "$queue" "$task_id" --node "$node" --result "$work/output" > /dev/null
  rc=$?
  if [ "$rc" -eq 4 ]; then
    log "$task_id is no longer ours (reaped after orphan_after?); its result was dropped"
  elif [ "$rc" -ne 0 ]; then
    log "could not record $task_id (exit $rc); it stays in_progress until reaped"
  else
    log "$task_id: $outcome"
  fi
  [ "$mode" = --once ] && exit 0
done
