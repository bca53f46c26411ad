#!/usr/bin/env bash
# Submits one sweep to SLURM: `ugs run SWEEP --out RUN` across the nodes and GPUs of one allocation,
# checkpointed before the time limit and requeued until it is done (deploy/slurm/README.md).
#
#   deploy/slurm/submit.sh SWEEP.toml RUN [ugs run options...]
#   deploy/slurm/submit.sh experiments/paper.toml runs/paper
#   deploy/slurm/submit.sh experiments/paper.toml runs/paper --resume     # continue an existing RUN
#
# The site settings come from deploy/slurm/site.env, or from the file UGS_SLURM_SITE names. Prints
# "Submitted batch job N" as sbatch does, then where to look.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if (($# < 2)); then
  sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
  exit 2
fi
[[ -f $1 ]] || { echo "submit: no sweep file $1" >&2; exit 2; }
sweep=$(realpath "$1")
run=$(realpath -m "$2")
shift 2

site=${UGS_SLURM_SITE:-$here/site.env}
[[ -f $site ]] || { echo "submit: no site settings at $site (UGS_SLURM_SITE)" >&2; exit 2; }
set -a  # everything the site file sets is exported to the job (sbatch --export=ALL)
# shellcheck source=site.env
source "$site"
set +a

fail() { echo "submit: $site: $*" >&2; exit 2; }
for setting in UGS_PARTITION UGS_ACCOUNT UGS_NODES UGS_GPUS_PER_NODE UGS_WORKERS_PER_NODE UGS_CPUS_PER_WORKER \
  UGS_TIME UGS_STOP_LEAD_SECONDS UGS_SBATCH_OPTIONS UGS_MODULES UGS_BINARY UGS_SRUN_MPI; do
  [[ -v $setting ]] || fail "$setting is not set (deploy/slurm/site.env lists every setting)"
done
[[ -x $UGS_BINARY ]] || fail "UGS_BINARY=$UGS_BINARY is not an executable (build ugs first: deploy/setup.sh)"
((UGS_NODES >= 1)) || fail "UGS_NODES must be at least 1, got $UGS_NODES"
((UGS_WORKERS_PER_NODE >= 1)) || fail "UGS_WORKERS_PER_NODE must be at least 1, got $UGS_WORKERS_PER_NODE"
if ((UGS_GPUS_PER_NODE > 0 && UGS_WORKERS_PER_NODE != UGS_GPUS_PER_NODE)); then
  fail "one worker rank per GPU: UGS_WORKERS_PER_NODE=$UGS_WORKERS_PER_NODE but UGS_GPUS_PER_NODE=$UGS_GPUS_PER_NODE"
fi

# The job's log goes into the run folder, appended to across requeues (#SBATCH --open-mode=append).
mkdir -p "$run"
options=(
  --job-name="ugs-$(basename "$sweep" .toml)"
  --nodes="$UGS_NODES"
  --ntasks-per-node="$UGS_WORKERS_PER_NODE"
  --cpus-per-task="$UGS_CPUS_PER_WORKER"
  --time="$UGS_TIME"
  --signal="B:USR1@$UGS_STOP_LEAD_SECONDS"
  --output="$run/slurm-%j.out"
  --export=ALL
)
[[ -n $UGS_PARTITION ]] && options+=(--partition="$UGS_PARTITION")
[[ -n $UGS_ACCOUNT ]] && options+=(--account="$UGS_ACCOUNT")
((UGS_GPUS_PER_NODE > 0)) && options+=(--gpus-per-node="$UGS_GPUS_PER_NODE")
# shellcheck disable=SC2206  # site options are words by design
options+=($UGS_SBATCH_OPTIONS)

export UGS_SLURM_DIR=$here  # sweep.sbatch finds rank.sh here (a shared file system, like UGS_BINARY)
job=$(sbatch --parsable "${options[@]}" "$here/sweep.sbatch" "$sweep" "$run" "$@")
job=${job%%;*}  # "id;cluster" on multi-cluster sites
echo "Submitted batch job $job"
echo "log: $run/slurm-$job.out   ledger: $run/ledger.jsonl   queue: squeue -j $job"
