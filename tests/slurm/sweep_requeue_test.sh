#!/usr/bin/env bash
# Slurm.SweepRequeuesAndCompletes: deploy/slurm/ on a real single-node Slurm that this script starts
# (munged, slurmctld, slurmd from Debian's munge and slurm-wlm, in a temporary folder, on free ports).
#
#   tests/slurm/sweep_requeue_test.sh UGS_BINARY       (as root: slurmd starts the jobs; ctest runs it)
#
# a. A tiny sweep submitted with deploy/slurm/submit.sh (the project's scripts, this file's site
#    settings) runs as `srun -n 3` (the coordinator and two gangs) and completes: every job completed
#    once, the report written.
# b. A longer sweep gets `scancel --batch --signal=USR1` mid-flight (what --signal=B:USR1@lead sends
#    before a time limit): the gangs checkpoint, the ledger says preempted, the batch script requeues
#    the job, which resumes with --resume and completes; no job completed twice, the preempted jobs
#    continued from their checkpoints.
# c. The same signal while the ranks are still starting (before ugs has its signal handlers) is held
#    until they are up, then leads to the same requeue; no rank dies of it.
# The daemons and everything they started are stopped at the end, whatever happened.
set -euo pipefail

ugs=$(realpath "${1:?usage: sweep_requeue_test.sh UGS_BINARY}")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
say() { echo "[$(date +%T)] $*"; }

missing=()
for tool in munged munge slurmctld slurmd sbatch srun scontrol scancel sinfo squeue; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) || fail "missing ${missing[*]}: install the Debian packages slurmctld slurmd slurm-client munge (deploy/setup.sh does)"
[[ -x $ugs ]] || fail "no ugs executable at $ugs"
(($(id -u) == 0)) || fail "needs root: slurmd starts every job as its user (CI runs as root)"

# Run inside a Slurm job or with sbatch/srun defaults set, the commands below would mix that cluster's
# settings into this one's.
while read -r variable; do unset "$variable"; done < <(compgen -e | grep -E '^(SLURM|SBATCH|SRUN|SALLOC|SQUEUE|SINFO)_')
work=$(mktemp -d "${TMPDIR:-/tmp}/ugs-slurm-test.XXXXXX")
export SLURM_CONF=$work/slurm.conf

# ---------------------------------------------------------------------------------------------------
# Teardown: cancel the jobs, stop the daemons, then kill whatever still runs with this cluster's
# configuration (slurmstepd and the job's processes carry SLURM_CONF in their environment).
daemons=()
cleanup() {
  local status=$?
  set +e
  if ((status != 0)); then
    for log in "$work"/log/*.log "$work"/run_*/slurm-*.out; do
      [[ -f $log ]] && { echo "---- $log (last 40 lines)"; tail -n 40 "$log"; }
    done
  fi
  [[ -f $work/slurmctld.pid ]] && scancel --quiet --user="$(id -un)" 2>/dev/null && sleep 1
  for pid in "${daemons[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${daemons[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  for environ in /proc/[0-9]*/environ; do
    if { tr "\0" "\n" <"$environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF"; then
      pid=${environ#/proc/}
      kill -9 "${pid%/environ}" 2>/dev/null
    fi
  done
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP  # through cleanup too (ctest's timeout, Ctrl-C)

# Two consecutive free TCP ports on the loopback (other clusters, or this test run twice, may listen).
free_ports() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (: >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && ! (: >"/dev/tcp/127.0.0.1/$((port + 1))") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "no free TCP port pair on 127.0.0.1"
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds, or fails naming WHAT.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${seconds} s waiting for $what"
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------------
say "starting munged, slurmctld and slurmd in $work"
mkdir -p "$work"/{munge,state,spool,log}
chmod 755 "$work"  # munged refuses a socket folder others cannot reach
head -c 1024 /dev/urandom >"$work/munge/munge.key"
chmod 400 "$work/munge/munge.key"
munge_socket=$work/munge/socket
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$munge_socket" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" --log-file="$work/log/munged.log" \
  >>"$work/log/munged.log" 2>&1 &
daemons+=($!)
munge_up() { munge --socket="$munge_socket" --no-input --output=/dev/null 2>/dev/null; }
wait_for 10 "munged" munge_up

host=$(hostname -s)
port=$(free_ports)
cpus=$(nproc)
((cpus >= 2)) || cpus=2  # the job asks for 2 CPUs; config_overrides lets the node claim them
cat >"$SLURM_CONF" <<EOF
ClusterName=ugs-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (120 s by default; 5 is the minimum)
AuthInfo=socket=$munge_socket,cred_expire=5
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
PlugStackConfig=$work/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
SchedulerType=sched/builtin
# look at pending jobs every second (default 60), so that the requeued job starts as soon as it may
SchedulerParameters=sched_interval=1
MpiDefault=none
JobRequeue=1
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
: >"$work/plugstack.conf"  # not /etc/slurm's
slurmctld -D >>"$work/log/slurmctld.log" 2>&1 &
daemons+=($!)
slurmd -D >>"$work/log/slurmd.log" 2>&1 &
daemons+=($!)
node_idle() { [[ $(sinfo --noheader --nodes="$host" --format=%t 2>/dev/null) == idle ]]; }
wait_for 30 "the node $host to be idle (sinfo)" node_idle
say "single-node Slurm up: $host, ports $port-$((port + 1)), $cpus CPUs"

# ---------------------------------------------------------------------------------------------------
# The sweeps: a synthetic store with two folds, U-Net and UGS-Net x 2 folds and Table III.
"$ugs" synth --out "$work/store" --nodules 48 >/dev/null
"$ugs" split "$work/store" --folds 2 --out "$work/store/splits.json" >/dev/null
write_sweep() {  # FILE EPOCHS
  cat >"$1" <<EOF
[sweep]
name = "slurm-test"
folds = [0, 1]
[defaults.data]
store = "$work/store"
split = "$work/store/splits.json"
[defaults.model]
base_width = 8
[defaults.optimizer]
kind = "adam"
lr = 1e-3
[defaults.training]
epochs = $2
batch_size = 8
checkpoint_every = 1
[defaults.preprocess]
size = 32
[experiments.table1]
networks = ["unet", "ugsnet"]
[experiments.table3]
kind = "complex_nodules"
after = ["table1"]
networks = ["unet", "ugsnet"]
reference = "unet"
dsc_thresholds = [0.6, 0.8]
EOF
}

# This cluster's site settings, in place of deploy/slurm/site.env: one node, 2 worker ranks of 1 CPU.
cat >"$work/site.env" <<EOF
UGS_PARTITION=test
UGS_ACCOUNT=""
UGS_NODES=1
UGS_GPUS_PER_NODE=0
UGS_WORKERS_PER_NODE=2
UGS_CPUS_PER_WORKER=1
UGS_TIME=10
UGS_STOP_LEAD_SECONDS=60
UGS_SBATCH_OPTIONS=""
UGS_MODULES=""
UGS_BINARY=$ugs
UGS_SRUN_MPI=pmix
EOF

# The same settings as the shipped file, no more, no fewer (a new setting is tested here too).
settings_of() { sed -nE 's/^(UGS_[A-Z_]+)=.*/\1/p' "$1" | sort; }
[[ $(settings_of "$work/site.env") == "$(settings_of "$repo/deploy/slurm/site.env")" ]] ||
  fail "this test's site settings differ from deploy/slurm/site.env's: $(diff <(settings_of "$work/site.env") <(settings_of "$repo/deploy/slurm/site.env") | tr '\n' ' ')"

submit() {  # SWEEP RUN -> prints the job id
  local output
  output=$(UGS_SLURM_SITE=$work/site.env "$repo/deploy/slurm/submit.sh" "$1" "$2") || fail "submit.sh failed: $output"
  sed -n 's/^Submitted batch job \([0-9]*\)$/\1/p' <<<"$output"
}
job_field() { scontrol show job "$1" | grep -o "$2=[^ ]*" | cut -d= -f2; }
job_ended() { [[ -z $(squeue --noheader --jobs="$1" 2>/dev/null) ]]; }

# The ledger as "event id" lines, in order (ids only where the event has one).
ledger_events() {
  sed -nE 's/^\{"event":"([a-z_]+)".*"id":"([0-9a-f]+)".*/\1 \2/p; s/^\{"event":"(run_[a-z_]+)".*/\1 -/p' "$1/ledger.jsonl"
}

# Checks what every run must show: each job registered is completed exactly once and never started
# after completing, and the last run event is run_finished. Prints the ids that were preempted.
check_ledger() {  # RUN
  ledger_events "$1" | awk '
    $1 == "job_registered" { registered[$2] = 1 }
    $1 == "job_started" {
      if (completed[$2]) { print "job " $2 " started again after completing"; bad = 1 }
      if (waiting[$2]) { continued[$2] = 1; waiting[$2] = 0 }
    }
    $1 == "job_completed" { if (++completed[$2] > 1) { print "job " $2 " completed twice"; bad = 1 } }
    $1 == "job_preempted" { preempted[$2] = 1; waiting[$2] = 1 }
    $1 ~ /^run_/ { last_run_event = $1 }
    END {
      for (id in registered) if (completed[id] != 1) { print "job " id " not completed"; bad = 1 }
      for (id in preempted) if (!continued[id]) { print "job " id " preempted but never continued"; bad = 1 }
      if (last_run_event != "run_finished") { print "the ledger ends with " last_run_event ", not run_finished"; bad = 1 }
      for (id in preempted) print "preempted " id
      exit bad
    }' || fail "ledger $1/ledger.jsonl: see above"
}

# ---------------------------------------------------------------------------------------------------
say "a. a tiny sweep through sbatch completes"
write_sweep "$work/tiny.toml" 1
run=$work/run_a
job=$(submit "$work/tiny.toml" "$run")
[[ -n $job ]] || fail "no job id from submit.sh"
wait_for 120 "job $job (the tiny sweep) to end" job_ended "$job"
[[ $(job_field "$job" JobState) == COMPLETED && $(job_field "$job" ExitCode) == 0:0 ]] ||
  fail "job $job: $(scontrol show job "$job" | grep -E 'JobState|ExitCode')"
grep -q "on $host: 3 ranks" "$run/slurm-$job.out" || fail "the sweep did not start 3 ranks"
check_ledger "$run" >/dev/null
for rank in 1 2; do  # the two gangs' roots trained jobs
  grep '"event":"job_started"' "$run/ledger.jsonl" | grep -q "\"rank\":$rank," || fail "no job ran on rank $rank (gang $((rank - 1)))"
done
[[ -s $run/report/report.md ]] || fail "no report at $run/report/report.md"
say "a. passed: job $job completed, $(grep -c '"event":"job_completed"' "$run/ledger.jsonl") jobs completed once, report written"

# ---------------------------------------------------------------------------------------------------
say "b. a sweep stopped mid-flight by SIGUSR1 to the batch shell is requeued and resumes"
epochs=10
write_sweep "$work/long.toml" "$epochs"
run=$work/run_b
job=$(submit "$work/long.toml" "$run")
[[ -n $job ]] || fail "no job id from submit.sh"
mid_flight() {  # both gangs busy and one job past its first epoch
  [[ -f $run/ledger.jsonl ]] && (($(grep -c '"event":"job_started"' "$run/ledger.jsonl") >= 2)) &&
    compgen -G "$run/jobs/*/fold_*/training_log.jsonl" >/dev/null
}
wait_for 120 "job $job to be mid-flight" mid_flight
say "b. scancel --batch --signal=USR1 $job"
scancel --batch --signal=USR1 "$job"
requeued() { (($(job_field "$job" Restarts) >= 1)); }
wait_for 60 "job $job to be requeued" requeued
say "b. job $job requeued"
wait_for 240 "job $job (resumed) to end" job_ended "$job"
[[ $(job_field "$job" JobState) == COMPLETED && $(job_field "$job" ExitCode) == 0:0 ]] ||
  fail "job $job: $(scontrol show job "$job" | grep -E 'JobState|ExitCode')"
[[ $(job_field "$job" Restarts) == 1 ]] || fail "job $job restarted $(job_field "$job" Restarts) times, expected once"
log=$run/slurm-$job.out
grep -q "requeueing job $job" "$log" || fail "$log: the batch script did not requeue"
grep -q "(restart 1) on $host: 3 ranks, .* --resume" "$log" || fail "$log: the requeued job did not run with --resume"
preempted=$(check_ledger "$run" | sed -n 's/^preempted //p')
[[ -n $preempted ]] || fail "no job was preempted (the signal came too late?)"
(($(grep -c '"event":"run_resumed"' "$run/ledger.jsonl") == 1)) || fail "expected one run_resumed in the ledger"
# A preempted job continued from its checkpoint: every epoch in its log once, none trained twice.
for id in $preempted; do
  folder=$(grep -o "\"event\":\"job_registered\".*\"id\":\"$id\",\"folder\":\"[^\"]*\"" "$run/ledger.jsonl" | tail -n 1 | sed 's/.*"folder":"//; s/"$//')
  logged=$(grep -o '^{"epoch":[0-9]*' "$run/$folder/training_log.jsonl" | cut -d: -f2 | tr '\n' ' ')
  [[ $logged == "$(seq -s ' ' 1 "$epochs") " ]] || fail "job $id ($folder): epochs logged '$logged', expected 1..$epochs once each"
done
say "b. passed: job $job preempted ($(wc -w <<<"$preempted") job(s) checkpointed), requeued once, resumed, every job completed once"
echo "---- the batch job's log, without the report's tables:"
grep -vE '^(\||#|$)' "$log" | grep -E 'sweep.sbatch|^(start|done|paused|stopping|status|preempted|sweep|report)'

# ---------------------------------------------------------------------------------------------------
say "c. a SIGUSR1 while the ranks are still starting waits for them, then requeues as in b"
run=$work/run_c
job=$(submit "$work/tiny.toml" "$run")
[[ -n $job ]] || fail "no job id from submit.sh"
batch_shell_up() { grep -qs "sweep.sbatch: job $job (restart 0)" "$run/slurm-$job.out"; }
wait_for 60 "the batch shell of job $job to start srun" batch_shell_up
scancel --batch --signal=USR1 "$job"  # ugs itself takes about a second to load and to start MPI
wait_for 120 "job $job to end" job_ended "$job"
log=$run/slurm-$job.out
grep -q "srun: error" "$log" && fail "$log: a rank died: $(grep 'srun: error' "$log")"
[[ $(job_field "$job" JobState) == COMPLETED && $(job_field "$job" ExitCode) == 0:0 ]] ||
  fail "job $job: $(scontrol show job "$job" | grep -E 'JobState|ExitCode')"
[[ $(job_field "$job" Restarts) == 1 ]] || fail "job $job restarted $(job_field "$job" Restarts) times, expected once"
check_ledger "$run" >/dev/null
say "c. passed: job $job stopped before its ranks were up, requeued once, completed"
