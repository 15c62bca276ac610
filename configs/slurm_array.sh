#!/bin/bash
# One shard of a run per SLURM array task (docs/HPC.md).
#
#   mkdir -p parts logs
#   jid=$(sbatch --parsable configs/slurm_array.sh configs/demo.json)
#   sbatch --dependency=afterok:$jid configs/slurm_merge.sh results.json
#
# --shard auto reads SLURM_ARRAY_TASK_ID/MIN/STEP/COUNT, so any --array
# range with a constant step works (0-7, 3-10, 0-14:2); the workers default
# to SLURM_CPUS_PER_TASK. Each task writes parts/part-<task id>.json.
#SBATCH --job-name=mmrun-shard
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=logs/%x-%A_%a.log
set -euo pipefail
config=${1:?usage: sbatch slurm_array.sh CONFIG.json}
# mmrun by absolute path (a batch job's PATH may not have it): the install of
# `cmake --install build --prefix "$HOME/.local"`, or MMRUN=/path/to/mmrun.
mmrun=${MMRUN:-$HOME/.local/bin/mmrun}
mkdir -p parts
exec "$mmrun" --shard auto --progress=60 -o "parts/part-${SLURM_ARRAY_TASK_ID}.json" "$config"
