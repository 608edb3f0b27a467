#!/usr/bin/env bash
# Stages shared by egs/{libri2mix,wham,lrs2mix}/run.sh. Sourced by each run.sh after its
# defaults and parse_options.sh; all the work is done by corpus.* (stages 0-1, in
# egs/utils/corpus) and asteroid_tdanet.recipes.* (stages 2-4), so the recipes share one
# implementation.
#   0: data (generate / check / build the mini set)   1: csv metadata
#   2: train                                          3: evaluate
#   4: publish (and upload with --hub_repo_id)
set -euo pipefail

utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ "$dataset" = mini ]; then
  sample_rate=8000
  train_split=train; valid_split=dev; test_split=test
  conf=${conf:-$utils/conf_mini.yml}
  license=${mini_license}
  # The demo's default: uPIT-BLSTM separates real speech best at its 10.5 CPU minutes
  # (README, "The embedded mini dataset"); --model tdanet trains tdanet-mini.
  model=${model:-blstmnet}
else
  conf=${conf:-local/conf.yml}
fi
model=${model:-tdanet}
model=$(echo "$model" | tr '[:upper:]' '[:lower:]')

# Before any arithmetic: recipe_lib.sh checks the numeric options (--sample_rate 16k stops
# there, naming the option, instead of a shell arithmetic error).
. "$utils/recipe_lib.sh"

sr_k=$((sample_rate / 1000))
data_dir=data/$dataset/wav${sr_k}k/min
tag=${tag:-${dataset}_${task}_${sr_k}k}
exp_dir=exp/${model}_${tag}
if [ ! -e "$exp_dir" ] && [ -e "exp/train_${model}_${tag}" ]; then
  exp_dir=exp/train_${model}_${tag}  # an experiment of release 0.2 (exp/train_<model>_<tag>)
fi

echo "Recipe: model=$model dataset=$dataset task=$task sample_rate=$sample_rate exp_dir=$exp_dir"
echo "        stages $stage..$stop_stage, conf $conf"
# The task against the corpus's (LRS2-2Mix: sep_clean only), before stage 0 scans anything.
run_stage "$python" -m corpus.corpora --dataset "$dataset" --task "$task" || exit $?

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "Stage 0: data preparation ($dataset in $storage_dir)"
  run_stage local/prepare_data.sh "$python" "$dataset" "$storage_dir" "$sample_rate" \
    --force "$force" --mini_source "$mini_source" "${mini_args_words[@]}"
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  echo "Stage 1: metadata csv files in $data_dir"
  run_stage "$python" -m corpus.metadata --dataset "$dataset" \
    --storage_dir "$storage_dir" --sample_rate "$sample_rate" --out_dir "$data_dir"
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "Stage 2: training in $exp_dir"
  run_stage "$python" -m asteroid_tdanet.recipes.train --conf "$conf" --exp_dir "$exp_dir" \
    --train_dir "$data_dir/$train_split" --valid_dir "$data_dir/$valid_split" \
    --test_dir "$data_dir/$test_split" --dataset "$dataset" --task "$task" \
    --sample_rate "$sample_rate" --num_nodes "$num_nodes" --force "$force" \
    "${train_opts[@]}" "${train_args_words[@]}"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "Stage 3: evaluation of $exp_dir/best_model.pth"
  # Each evaluation is done once: one whose final_metrics.json exists (and is newer than the
  # model and its test csv) is kept unless --force true, so that a stage 3 interrupted in the
  # real-speech evaluation, or re-run with --real_speech_dir added, does only what is missing.
  run_stage "$python" -m asteroid_tdanet.recipes.evaluate --exp_dir "$exp_dir" \
    --n_save_ex "$n_save_ex" --force "$force" --keep_existing true "${eval_args_words[@]}"
  if [ -n "$real_speech_dir" ]; then
    # Named by rate and size only: corpus.real_speech rebuilds it when its real_speech.json
    # records another source folder (or seed, crop), so stage 3 never scores an old corpus
    # (nor keeps the score of one: an evaluation older than the rebuilt csv is refused).
    real_data=data/real_speech/wav${sr_k}k_n${real_speech_n}
    echo "Stage 3: real read speech from $real_speech_dir ($real_data)"
    run_stage "$python" -m corpus.real_speech --librispeech_dir "$real_speech_dir" --out_dir "$real_data" \
      --n_mixtures "$real_speech_n" --sample_rate "$sample_rate" --max_seconds 6
    # The set has clean mixtures only (mix_clean csv, no noise): --task sep_clean, after the
    # user's --eval_args so that it wins over a training task of sep_noisy (WHAM!'s default).
    run_stage "$python" -m asteroid_tdanet.recipes.evaluate --exp_dir "$exp_dir" --test_dir \
      "$real_data/csv/test" --out_name eval_real_speech --n_save_ex "$n_save_ex" \
      --force "$force" --keep_existing true "${eval_args_words[@]}" --task sep_clean
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "Stage 4: publishing $exp_dir/publish_dir"
  dataset_json=""
  [ "$dataset" = mini ] && dataset_json=$storage_dir/MiniLibri2Mix/dataset.json
  run_stage "$python" -m asteroid_tdanet.recipes.publish --exp_dir "$exp_dir" \
    --hub_repo_id "$hub_repo_id" --license "$license" --dataset_json "$dataset_json" \
    --force "$force"
fi
echo "Done (stages $stage..$stop_stage): $exp_dir"
