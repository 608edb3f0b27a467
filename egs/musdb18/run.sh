#!/usr/bin/env bash
# Mel-Band RoFormer (windowed sink attention) vocal separation on MUSDB18-HQ (Asteroid recipe).
#   ./run.sh --dataset mini                         embedded music set, CPU, no corpus needed
#   ./run.sh --storage_dir /data                    MUSDB18-HQ in /data/MUSDB18-HQ/{train,test}
#   ./run.sh --storage_dir /data --teacher full.ckpt   distil a WSA student from a full-attention
#                                                   Mel-Band RoFormer (starts from its weights)
#   ./run.sh --stage 3 --stop_stage 3 --force true --tag my_exp   re-run only the evaluation
#   ./run.sh --stage 4 --hub_repo_id me/mbr-wsa-musdb
# Stages: 0 data (build the mini set / check MUSDB18-HQ)  1 song list  2 train  3 evaluate
#         4 publish. Every variable below and in ../utils/recipe_defaults.sh is an option.
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/recipe_defaults.sh

dataset=musdb18hq   # musdb18hq or mini
model=melbandroformer
task=vocals         # the target stem (accompaniment = mixture - vocals is the second output)
sample_rate=44100
teacher=""          # full-attention teacher checkpoint: distillation (loss distill)
distill_weight=""   # weight of the mask-level distillation term (conf: 1.0)
license=mit         # of the published weights (MUSDB18-HQ is for research only: see README)
mini_license=cc-by-sa-3.0
n_save_ex=2         # example excerpts (30 s) written by stage 3
help_message="Usage: $0 [--name value ...]; see the variables at the top of $0 and
../utils/recipe_defaults.sh, the README (\"Mel-Band RoFormer with windowed sink attention\")
and docs/recipes.md (\"Music: egs/musdb18\")."

. ../utils/parse_options.sh
utils=$(cd ../utils && pwd)
case "$dataset" in
  musdb18hq|mini) ;;
  *) echo "--dataset must be musdb18hq or mini, got '$dataset'." >&2; exit 2 ;;
esac

if [ "$dataset" = mini ]; then
  root=$storage_dir/MiniMUSDB
  conf=${conf:-local/conf_mini.yml}
  license=$mini_license
  data_name=music_mini
else
  root=$storage_dir/MUSDB18-HQ
  conf=${conf:-local/conf.yml}
  data_name=$dataset
fi
tag=${tag:-${dataset}_${task}${teacher:+_distilled}}
model=$(echo "$model" | tr '[:upper:]' '[:lower:]')
exp_dir=exp/${model}_${tag}

. "$utils/recipe_lib.sh"
train_opts+=(--task "$task" --targets "$task")
if [ -n "$teacher" ]; then
  # The student starts from the teacher's weights (new sink tokens) and learns from its masks.
  train_opts+=(--student_of "$teacher" --teacher "$teacher")
  [ -n "$loss" ] || train_opts+=(--loss distill)
fi
[ -n "$distill_weight" ] && train_opts+=(--distill_weight "$distill_weight")

echo "Recipe: model=$model dataset=$dataset target=$task root=$root exp_dir=$exp_dir"
echo "        stages $stage..$stop_stage, conf $conf"

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  echo "Stage 0: data ($dataset in $root)"
  if [ "$dataset" = mini ]; then
    run_stage "$python" -m corpus.music.build --out_dir "$root" --force "$force" \
      "${mini_args_words[@]}"
  elif [ ! -d "$root/train" ] || [ ! -d "$root/test" ]; then
    echo "No MUSDB18-HQ in $root: download it (https://zenodo.org/records/3338373, research" \
      "use only), unzip it so that $root/train and $root/test hold the song folders, and" \
      "re-run (or pass --storage_dir)." >&2
    exit 2
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  echo "Stage 1: checking the songs of $root"
  run_stage "$python" -m asteroid_tdanet.recipes.music_data --root "$root" \
    --sample_rate "$sample_rate" --out data/$dataset/songs.json
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  echo "Stage 2: training in $exp_dir"
  run_stage "$python" -m asteroid_tdanet.recipes.train --conf "$conf" --exp_dir "$exp_dir" \
    --root "$root" --dataset "$data_name" --sample_rate "$sample_rate" \
    --num_nodes "$num_nodes" --force "$force" "${train_opts[@]}" "${train_args_words[@]}"
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  echo "Stage 3: evaluation of $exp_dir/best_model.pth on whole test songs"
  run_stage "$python" -m asteroid_tdanet.recipes.evaluate --exp_dir "$exp_dir" \
    --n_save_ex "$n_save_ex" --force "$force" "${eval_args_words[@]}"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  echo "Stage 4: publishing $exp_dir/publish_dir"
  dataset_json=""
  [ "$dataset" = mini ] && [ -f "$root/dataset.json" ] && dataset_json=$root/dataset.json
  run_stage "$python" -m asteroid_tdanet.recipes.publish --exp_dir "$exp_dir" \
    --hub_repo_id "$hub_repo_id" --license "$license" --dataset_json "$dataset_json" \
    --force "$force"
fi
echo "Done (stages $stage..$stop_stage): $exp_dir"
