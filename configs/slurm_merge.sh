#!/bin/bash
# Merges the parts written by slurm_array.sh once every array task succeeded
# (docs/HPC.md):
#
#   jid=$(sbatch --parsable configs/slurm_array.sh configs/demo.json)
#   sbatch --dependency=afterok:$jid configs/slurm_merge.sh results.json
#
# mmrun merge refuses a missing, duplicated or foreign part (exit 65), so a
# partial set of parts never yields a result. The merged document goes to
# OUT (default results.json), written atomically.
#SBATCH --job-name=mmrun-merge
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:10:00
#SBATCH --output=logs/%x-%j.log
set -euo pipefail
out=${1:-results.json}
mmrun=${MMRUN:-$HOME/.local/bin/mmrun}  # as in slurm_array.sh
exec "$mmrun" merge parts/part-*.json -o "$out"
