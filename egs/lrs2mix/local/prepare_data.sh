#!/usr/bin/env bash
# Stage 0 of the lrs2mix recipe: make the corpus available (see corpus.prepare_data).
# Usage: local/prepare_data.sh <python> <dataset> <storage_dir> <sample_rate> [options...]
set -euo pipefail
python=$1 dataset=$2 storage_dir=$3 sample_rate=$4
shift 4
exec "$python" -m corpus.prepare_data --dataset "$dataset" \
  --storage_dir "$storage_dir" --sample_rate "$sample_rate" "$@"
