#!/bin/bash
# The classification grid (5 methods x 3 seeds = 15 runs) as a Slurm job array of 5 tasks.
# Every array task runs the SAME command: the runner takes its shard from SLURM_ARRAY_TASK_ID,
# SLURM_ARRAY_TASK_COUNT (and SLURM_ARRAY_TASK_MIN), so run k of the plan goes to task k mod 5.
# All tasks write into one --out folder on a shared filesystem (one file per run and checkpoint;
# nothing is shared between runs). --resume makes a requeued or resubmitted task skip its
# finished runs and continue unfinished ones from their last epoch.
#
#   sbatch --export=ALL,DATA=/shared/cifar10,OUT=/shared/results/classify docs/examples/slurm-classify.sh
#   # then, once every task has finished (or chain it with --dependency=afterok:<jobid>):
#   node --no-use-osr dist/tasks/classify.js --preset cpu --data "$DATA" --out "$OUT" --merge "$OUT"
#
#SBATCH --job-name=lbd-classify
#SBATCH --array=0-4
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=4
#SBATCH --mem=16G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=lbd-classify-%A_%a.out
set -euo pipefail
cd "${LBD_HOME:-${SLURM_SUBMIT_DIR:-.}}"
DATA="${DATA:-data/cifar10-jpeg}"
OUT="${OUT:-runs/classify}"
node --no-use-osr dist/tasks/classify.js --preset cpu --data "$DATA" --out "$OUT" --resume
