#!/usr/bin/env bash
# TDANet on Libri2Mix (Asteroid recipe).
#   ./run.sh --storage_dir /data                 full Libri2Mix run (GPU(s) when present)
#   ./run.sh --stage 3 --stop_stage 3 --force true --tag my_exp   re-run only the evaluation
#   ./run.sh --stage 4 --hub_repo_id me/TDANet_Libri2Mix_sepclean_8k
#   ./run.sh --dataset mini                      embedded mini dataset, no corpus needed
#   ./run.sh --model s4m --preset s4m-tiny       S4M instead of TDANet (any stage, any dataset)
# Every variable below (and in ../utils/recipe_defaults.sh) is an option --name value.
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/recipe_defaults.sh

dataset=libri2mix   # libri2mix or mini
sample_rate=8000    # 8000 or 16000
train_split=train-100
valid_split=dev
test_split=test
license=cc-by-sa-4.0
help_message="Usage: $0 [--name value ...]; see the variables at the top of $0 and
../utils/recipe_defaults.sh, and docs/recipes.md."

. ../utils/parse_options.sh
. ../utils/run_recipe.sh
