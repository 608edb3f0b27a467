#!/usr/bin/env bash
# TDANet on WHAM! (Asteroid recipe). WSJ0 is licensed: bring it (stage 0 says how).
#   ./run.sh --storage_dir /data                 (expects /data/wham/wav8k/min/{tr,cv,tt})
#   ./run.sh --task sep_noisy                    noisy separation
#   ./run.sh --dataset mini                      embedded mini dataset, no corpus needed
#   ./run.sh --model s4m --preset s4m-tiny       S4M instead of TDANet (any stage, any dataset)
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/recipe_defaults.sh

dataset=wham        # wham or mini
task=""             # default sep_noisy (the paper's WHAM! numbers); sep_clean with --dataset mini
sample_rate=8000
train_split=tr
valid_split=cv
test_split=tt
license=cc-by-nc-4.0  # WHAM! noise is CC BY-NC 4.0
help_message="Usage: $0 [--name value ...]; see the variables at the top of $0 and
../utils/recipe_defaults.sh, and docs/recipes.md."

. ../utils/parse_options.sh
# The mini set's training mixtures are drawn afresh (dynamic mixing), which makes clean ones.
if [ -z "$task" ]; then
  if [ "$dataset" = mini ]; then task=sep_clean; else task=sep_noisy; fi
fi
. ../utils/run_recipe.sh
