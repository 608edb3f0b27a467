#!/bin/bash
# Budget sweep for the mini recipe (see README.md): every configuration trained in parallel for
# the number of steps the 2-core CPU VM fits in the recipe's 10.5-minute budget, on one GPU.
# Usage: sweep.sh <prepared data dir> <results dir> [1|2] [max seconds per run]
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$1; RESULTS=$2; WHICH=${3:-1}; MAX=${4:-400}
CACHE=${CACHE:-/tmp/mini_budget_sweep_cache}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
python3 "$HERE/decode.py" "$DATA" "$CACHE" || exit 1
mkdir -p "$RESULTS/logs"
run() {
  python3 "$HERE/train.py" --cache "$CACHE" --out "$RESULTS/json" --max_s "$MAX" "$@" \
    > "$RESULTS/logs/$2.txt" 2>&1 &
}
# Steps = what the 2-core VM runs in 10.5 minutes (train step at batch 4 x 2 s with 2 threads,
# measured, less 10 % for data and validation: the recipe's tdanet-mini made 5,558).
if [ "$WHICH" = 1 ]; then
  run --name td_train     --model td         --steps 5500  --split train
  run --name td_all       --model td         --steps 5500  --split all
  run --name ctn_train    --model ctn        --steps 7200  --split train
  run --name ctn_all      --model ctn        --steps 7200  --split all
  run --name lstm_train   --model lstm       --steps 9800  --split train
  run --name lstm_all     --model lstm       --steps 9800  --split all
  run --name lstmS_all    --model lstm_small --steps 12300 --split all
  run --name lstm_lr1_all --model lstm       --steps 9800  --split all --lr 1e-3
  run --name lstm_bs8_all --model lstm       --steps 5400  --split all --bs 8
  run --name dprnn_all    --model dprnn      --steps 6100  --split all
  run --name ctnD_all     --model ctn_deep   --steps 3800  --split all
  run --name tdB_all      --model td_big     --steps 4050  --split all
  run --name s4m_all      --model s4m        --steps 5400  --split all
  run --name ctnsig_all   --model ctn_sig    --steps 7200  --split all
else
  run --name ctnsig_x3    --model ctn_sig --steps 21600 --split all --evals 0.33,0.67,1.0
  run --name lstm_x3      --model lstm    --steps 29400 --split all --evals 0.33,0.67,1.0
  run --name ctnsig_seg1  --model ctn_sig --steps 7200  --split all --seg 1.0 --bs 8
  run --name ctnsig_real  --model ctn_sig --steps 7200  --split all --groups ast,kde
  run --name ctnsig_lr1e2 --model ctn_sig --steps 7200  --split all --lr 1e-2
fi
wait
python3 "$HERE/table.py" "$RESULTS/json" "$RESULTS/sweep$WHICH"
