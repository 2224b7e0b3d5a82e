#!/usr/bin/env bash
# The GitHub Action's step (action.yml): run `krakend $INPUT_COMMAND` with annotations on stdout,
# optional SARIF/JUnit files, and pass its exit code on (and to $GITHUB_OUTPUT as exit-code).
set -uo pipefail
case "${INPUT_COMMAND:-check-plugin}" in
  check-plugin|test-plugin) ;;
  *) echo "krakend-tools action: error: command must be check-plugin or test-plugin, not '${INPUT_COMMAND}'" >&2; exit 2 ;;
esac
cmd=(krakend "${INPUT_COMMAND:-check-plugin}" -o github)
[ -n "${INPUT_MANIFEST:-}" ] && cmd+=(--manifest "$INPUT_MANIFEST")
[ -n "${INPUT_SARIF:-}" ] && cmd+=(-o "sarif=$INPUT_SARIF")
[ -n "${INPUT_JUNIT:-}" ] && cmd+=(-o "junit=$INPUT_JUNIT")
# shellcheck disable=SC2206  # word splitting and globbing of the user's arguments are wanted
cmd+=(${INPUT_ARGS:-})
"${cmd[@]}"
code=$?
[ -n "${GITHUB_OUTPUT:-}" ] && echo "exit-code=$code" >> "$GITHUB_OUTPUT"
exit "$code"
