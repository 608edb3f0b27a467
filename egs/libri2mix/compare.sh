#!/usr/bin/env bash
# Equal-budget comparison: train a list of models on the same data, for the same wall-clock
# budget, on the same device; evaluate them on the same test set (and, with
# --real_speech_dir, on real read speech of unseen speakers); write compare/<tag>/results.{csv,json,png}.
#   ./compare.sh                                   the mini defaults (31 min on 2 CPU cores, measured)
#   ./compare.sh --models "tdanet:tdanet-mini convtasnet:convtasnet-mini" --minutes 3
#   ./compare.sh --dataset libri2mix --storage_dir /data --gpus 1 --minutes 600 --tag l2m
#   ./compare.sh --stage 2                         only re-collect the table and the figure
# Stages: 0 data + metadata (run.sh stages 0-1), 1 train + evaluate each model (run.sh
# stages 2-3 with the same budget), 2 table + figure. Each model's experiment is
# exp/<model>_<tag>_<preset>; finished ones are kept (re-running resumes, never overwrites).
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/recipe_defaults.sh

dataset=mini
sample_rate=8000
models="tdanet:tdanet-mini s4m:s4m-mini convtasnet:convtasnet-mini sudormrfnet:sudormrfnet-mini"
minutes=7               # training budget of EACH model (wall clock, same device)
tag=compare_mini        # experiments exp/<model>_<tag>_<preset>, results compare/<tag>/
real_speech_dir=""      # LibriSpeech-layout folder: also score every model on real speech
timing_seconds=4.0      # input length of the inference timing (1 thread on CPU)
eval_args="--metrics si_sdr"
help_message="Usage: $0 [--name value ...]; see the variables at the top of $0. Options of
run.sh that set one model's training (--model, --preset, --init_from, --max_minutes,
--epochs, --force, --hub_repo_id) are refused: --models and --minutes set them for all;
--lr, --batch_size, --segment, --loss and --train_args apply to every model alike."
# run.sh options with no meaning here; their defaults, to tell a given one apart.
not_taken=(model preset init_from max_minutes epochs force hub_repo_id)
declare -A not_taken_default
for name in "${not_taken[@]}"; do not_taken_default[$name]=${!name}; done

. ../utils/parse_options.sh

for name in "${not_taken[@]}"; do
  if [ "${!name}" != "${not_taken_default[$name]}" ]; then
    echo "compare.sh does not take --$name: --models and --minutes set every model's" \
      "training alike, and finished experiments are kept (see --help)." >&2
    exit 2
  fi
done
for name in stage stop_stage; do  # numbers: anything else would run nothing
  if ! [[ "${!name}" =~ ^-?[0-9]+$ ]]; then
    echo "--$name: expected a stage number, got '${!name}'" >&2
    exit 2
  fi
done

run_opts=(--dataset "$dataset" --storage_dir "$storage_dir" --python "$python"
          --sample_rate "$sample_rate" --task "$task"
          --real_speech_dir "$real_speech_dir" --real_speech_n "$real_speech_n"
          --eval_args "$eval_args" --n_save_ex 0)
for name in lr batch_size segment loss num_workers checkpoint_minutes strategy; do
  [ -n "${!name}" ] && run_opts+=("--$name" "${!name}")
done
[ "$num_nodes" != 1 ] && run_opts+=(--num_nodes "$num_nodes")
[ -n "$gpus" ] && run_opts+=(--gpus "$gpus")
[ -n "$conf" ] && run_opts+=(--conf "$conf")
[ -n "$mini_args" ] && run_opts+=(--mini_args "$mini_args")
run_opts+=(--mini_source "$mini_source")
[ -n "$train_args" ] && run_opts+=(--train_args "$train_args")
device=cpu
if [ -n "$gpus" ] && [ "$gpus" != 0 ]; then device=cuda; fi

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "Compare stage 0: data ($dataset)"
  ./run.sh "${run_opts[@]}" --tag "$tag" --stage 0 --stop_stage 1
fi

exp_dirs=()
for entry in $models; do
  model=${entry%%:*}; preset=${entry#*:}
  [ "$preset" = "$entry" ] && preset=$model
  exp_dir="exp/$(echo "$model" | tr '[:upper:]' '[:lower:]')_${tag}_${preset}"
  exp_dirs+=("$exp_dir")
  if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
    # A finished experiment is kept: train only without train_done.json, evaluate only
    # what has no final_metrics.json yet (stage 3 keeps a finished evaluation).
    own_metrics=$exp_dir/eval/final_metrics.json
    stages=(--stage 2)
    note=""
    if [ -f "$exp_dir/train_done.json" ]; then
      trained=$("$python" -c "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['training'].get('max_minutes'))" \
        "$exp_dir/conf.yml" 2>/dev/null || echo unknown)
      if [ "$trained" != "$minutes" ] && [ "$trained" != "${minutes}.0" ]; then
        echo "warning: $exp_dir was trained with a budget of $trained min, not --minutes" \
          "$minutes: the table mixes budgets (train it anew under another --tag)." >&2
      fi
      if [ -f "$own_metrics" ] && { [ -z "$real_speech_dir" ] ||
          [ -f "$exp_dir/eval_real_speech/final_metrics.json" ]; }; then
        echo "Compare stage 1: $model ($preset): finished in $exp_dir, kept"
        continue
      fi
      # Stage 3 keeps a finished evaluation and runs only the missing one (the real-speech
      # score of an experiment first evaluated without --real_speech_dir).
      stages=(--stage 3)
      note="  trained already ($exp_dir/train_done.json): evaluating only"
    fi
    if [ -n "$note" ]; then
      echo "Compare stage 1: $model ($preset)"
      echo "$note"
    else
      echo "Compare stage 1: $model ($preset), $minutes min"
    fi
    ./run.sh "${run_opts[@]}" --model "$model" --preset "$preset" --tag "${tag}_${preset}" \
      --max_minutes "$minutes" --epochs 100000 "${stages[@]}" --stop_stage 3
  fi
done

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "Compare stage 2: table and figure in compare/$tag"
  "$python" -m asteroid_tdanet.recipes.compare --out_dir "compare/$tag" --device "$device" \
    --seconds "$timing_seconds" --title "$dataset, {budget} of training each ($device)" \
    "${exp_dirs[@]}"
fi
