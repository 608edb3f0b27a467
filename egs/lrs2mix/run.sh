#!/usr/bin/env bash
# TDANet on LRS2-2Mix (Asteroid recipe). The mixture set is a local path (stage 0 says how).
#   ./run.sh --storage_dir /data                 (expects /data/LRS2-2Mix/{tr,cv,tt}/{mix,s1,s2})
#   ./run.sh --dataset mini                      embedded mini dataset, no corpus needed
#   ./run.sh --model s4m --preset s4m-tiny       S4M instead of TDANet (any stage, any dataset)
set -euo pipefail
cd "$(dirname "$0")"
. ../utils/recipe_defaults.sh

dataset=lrs2mix     # lrs2mix or mini
sample_rate=16000   # LRS2-2Mix exists at 16 kHz only (stage 0 refuses 8000)
train_split=tr
valid_split=cv
test_split=tt
license=cc-by-nc-4.0  # LRS2 is for non-commercial research
help_message="Usage: $0 [--name value ...]; see the variables at the top of $0 and
../utils/recipe_defaults.sh, and docs/recipes.md."

. ../utils/parse_options.sh
. ../utils/run_recipe.sh
