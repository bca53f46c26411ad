#!/usr/bin/env bash
# One rank of `ugs run` under srun (sweep.sbatch starts one per task): binds the rank to its GPU by its
# node-local id, then becomes the command it was given.
#
# Ranks (sweep.sbatch's layout): rank 0 is the coordinator, on the first node, and trains nothing, so
# it sees no GPU; ranks 1.. are the workers, UGS_WORKERS_PER_NODE per node, node by node. On the
# coordinator's node the workers' SLURM_LOCALIDs are 1..G, elsewhere 0..G-1: worker slot = local id,
# minus one on the coordinator's node, and slot k gets the k-th GPU this job has on the node (Slurm
# sets CUDA_VISIBLE_DEVICES to them when GPUs are allocated as GRES; 0..G-1 otherwise).
# On CPU nodes (UGS_GPUS_PER_NODE=0) nothing is bound.
set -euo pipefail

if ((${UGS_GPUS_PER_NODE:-0} > 0)); then
  if ((SLURM_PROCID == 0)); then
    export CUDA_VISIBLE_DEVICES=""
  else
    slot=$SLURM_LOCALID
    [[ $SLURMD_NODENAME == "$UGS_COORDINATOR_NODE" ]] && slot=$((slot - 1))
    if [[ -n ${CUDA_VISIBLE_DEVICES:-} ]]; then
      IFS=, read -ra gpus <<<"$CUDA_VISIBLE_DEVICES"
    else
      mapfile -t gpus < <(seq 0 $((UGS_GPUS_PER_NODE - 1)))
    fi
    if ((slot >= ${#gpus[@]})); then
      echo "rank.sh: rank $SLURM_PROCID on $SLURMD_NODENAME is worker slot $slot, but this job has" \
        "${#gpus[@]} GPU(s) there (CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-unset})" >&2
      exit 1
    fi
    export CUDA_VISIBLE_DEVICES=${gpus[slot]}
  fi
fi
exec "$@"
