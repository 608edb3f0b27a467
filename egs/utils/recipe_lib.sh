#!/usr/bin/env bash
# What every recipe's run.sh shares once its options are parsed (sourced after
# parse_options.sh, with $utils set to egs/utils): PYTHONPATH, option strings split into
# words, the training options passed on, stages run so that signals stop them, and the
# [recipes] extra checked. Used by run_recipe.sh (the speech recipes) and egs/musdb18/run.sh.

# Use this checkout's package even when it is not pip-installed, and the recipes' corpus
# package (egs/utils/corpus: stage 0 and 1; never part of the installed library).
export PYTHONPATH="$(cd "$utils/../.." && pwd):$utils${PYTHONPATH:+:$PYTHONPATH}"

# Free-form option strings are split into words by xargs's quoting rules ('...', "..." and
# backslashes outside them; no escapes inside quotes), so quotes group them: --train_args "--model_args '{n_repeats: 2}'" passes one
# YAML value. Nothing in them is executed or expanded ($(...), `...`, $VAR and globs stay
# text). A string that does not parse (an unbalanced quote) stops here, naming the option.
if (( BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4) )); then
  echo "The recipes need bash >= 4.4 (this is $BASH_VERSION)." >&2
  exit 2
fi
split_words() {  # split_words ARRAY_NAME STRING: the words of STRING into the array
  local -n words_=$1
  local listing status=0
  listing=$(mktemp) || { echo "cannot create a temporary file" >&2; exit 2; }
  # The newline ends the last word: GNU xargs drops a final empty quoted word ('') without it.
  printf '%s\n' "$2" | xargs -r printf '%s\0' >"$listing" 2>/dev/null || status=$?
  if [ "$status" = 0 ]; then
    mapfile -d '' -t words_ <"$listing" || status=$?
  fi
  rm -f "$listing"
  return "$status"
}
for name in train_args eval_args mini_args; do
  if ! split_words "${name}_words" "${!name}"; then
    echo "--$name: cannot split '${!name}' into words (unbalanced quote?)" >&2
    exit 2
  fi
done

# Stages are numbers: anything else would make every stage test false and run nothing.
for name in stage stop_stage; do
  if ! [[ "${!name}" =~ ^-?[0-9]+$ ]]; then
    echo "--$name: expected a stage number, got '${!name}'" >&2
    exit 2
  fi
done
# Options used in shell arithmetic and tests ($((sample_rate / 1000)), num_nodes -gt 1):
# "16k" would be an arithmetic error, or a test that is silently false.
for name in sample_rate num_nodes; do
  if ! [[ "${!name}" =~ ^[1-9][0-9]*$ ]]; then
    echo "--$name: expected a positive whole number, got '${!name}'" >&2
    exit 2
  fi
done
if [ "$stage" -gt "$stop_stage" ]; then  # prints the settings only (the tests' dry run)
  echo "note: --stage $stage is after --stop_stage $stop_stage: no stage will run" >&2
fi

# Optional conf overrides: only the ones given on the command line are passed on.
train_opts=(--model_name "$model")
for name in preset init_from batch_size lr epochs max_minutes checkpoint_minutes num_workers loss segment; do
  [ -n "${!name}" ] && train_opts+=("--$name" "${!name}")
done
if [ -n "$gpus" ]; then
  if [ "$gpus" = 0 ]; then
    train_opts+=(--accelerator cpu --devices 1)
  else
    train_opts+=(--accelerator gpu --devices "$gpus")
  fi
fi
[ -n "$strategy" ] && train_opts+=(--strategy "$strategy")
if [ -z "$strategy" ] && { [ "$num_nodes" -gt 1 ] || [[ "$gpus" =~ ^([2-9]|[1-9][0-9]+|-1|.*,.*)$ ]]; }; then
  train_opts+=(--strategy ddp)
fi


# Run a stage's command so that SIGTERM/SIGINT sent to this script stop it too. A foreground
# child would be orphaned (bash dies at once, the child keeps running); a background child of
# a script ignores SIGINT, so both signals reach it as SIGTERM, which every stage handles
# (training: stops at the next batch; last.ckpt is at most --checkpoint_minutes old). The
# script then exits with 130 (SIGINT) or 143 (SIGTERM) once the child is gone.
interrupted=""
forward() { interrupted=$1; [ -n "${child:-}" ] && kill -TERM "$child" 2>/dev/null; true; }
trap 'forward 130' INT
trap 'forward 143' TERM
run_stage() {
  "$@" &
  child=$!
  # A signal that came between the fork and the line above found no child to forward to.
  if [ -n "$interrupted" ]; then kill -TERM "$child" 2>/dev/null || true; fi
  local status=0
  wait "$child" || status=$?
  while kill -0 "$child" 2>/dev/null; do  # wait was cut short by a signal: the child cleans up
    status=0
    wait "$child" || status=$?
  done
  child=""
  if [ -n "$interrupted" ]; then
    echo "Interrupted: stopped $1 ${2:-} ${3:-} (exit $interrupted)" >&2
    exit "$interrupted"
  fi
  return "$status"
}

# The [recipes] extra first: one line naming what is missing beats a traceback in stage 0.
run_stage "$python" -m asteroid_tdanet.recipes.requirements || exit $?

