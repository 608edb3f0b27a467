#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts (same behaviour as Kaldi's
# utils/parse_options.sh, written for this project).
#
# Source it after the variable defaults of a script:
#     stage=0; tag=""; . ../utils/parse_options.sh
# Then `--name value` or `--name=value` on the command line sets $name, for every variable
# that already exists (dashes in names become underscores: --stop-stage = --stop_stage).
# An unknown option is an error. Booleans (defaults true/false) only accept true/false.
# `--config file` sources a file of name=value lines first. `--help` prints $help_message.
# Remaining positional arguments are left in "$@".

while true; do
  [ -z "${1:-}" ] && break
  case "$1" in
    --help|-h)
      if [ -z "${help_message:-}" ]; then
        echo "No help for $0: read the variables at its top (each is an option --name value)." 1>&2
      else
        printf "%s\n" "$help_message" 1>&2
      fi
      exit 0 ;;
    --*=*)
      _name=$(echo "${1%%=*}" | sed 's/^--//; s/-/_/g')
      _value="${1#*=}"
      shift ;;
    --*)
      _name=$(echo "$1" | sed 's/^--//; s/-/_/g')
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" 1>&2
        exit 1
      fi
      _value="$2"
      shift 2 ;;
    *) break ;;
  esac
  if ! [[ "$_name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    echo "$0: invalid option name --$_name" 1>&2
    exit 1
  fi
  if [ "$_name" = config ]; then
    if [ ! -f "$_value" ]; then echo "$0: no config file $_value" 1>&2; exit 1; fi
    # shellcheck disable=SC1090
    . "$_value"
    continue
  fi
  if [ -z "${!_name+set}" ]; then
    echo "$0: invalid option --$_name (no variable \$$_name in the script)" 1>&2
    exit 1
  fi
  _old="${!_name}"
  if [ "$_old" = true ] || [ "$_old" = false ]; then
    if [ "$_value" != true ] && [ "$_value" != false ]; then
      echo "$0: option --$_name expects true or false, got '$_value'" 1>&2
      exit 1
    fi
  fi
  printf -v "$_name" '%s' "$_value"
done
unset _name _value _old
true  # a sourced script's status is its last command's
