#!/usr/bin/env bash
# Runs the slipway command the action's inputs ask for (INPUT_* in the
# environment; the server and token as slipway reads them, SLIPWAY_URL and
# SLIPWAY_TOKEN, never on a command line) and writes the action's outputs
# to $GITHUB_OUTPUT (to stdout when that is unset):
#   apply    slipway apply PATH [--env E] [--deployment D] --auto-approve;
#            with INPUT_DRY_RUN=true: --dry-run --detailed-exitcode, the
#            plan also written to a file (output `plan`)
#   promote  slipway promote D --from F --to T --path PATH --auto-approve
#   test     slipway test CLUSTER --version V
#   cycle    a transient cluster made of deployment D's layers in
#            environment E: defined, deployed (with a ttl, should nothing
#            else destroy it), tested, destroyed and forgotten
# Outputs: exit-code (slipway's), changed (apply, promote: its 2 says
# changes were applied, or with --dry-run that there are some: a success),
# plan, cluster. Exits with slipway's code, 2 becoming 0 where it is good.
set -euo pipefail

command="${INPUT_COMMAND:-}"
path="${INPUT_PATH:-.}"
environment="${INPUT_ENVIRONMENT:-}"
deployment="${INPUT_DEPLOYMENT:-}"
version="${INPUT_VERSION:-${GITHUB_SHA:-}}"

output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "$1=$2" >>"$GITHUB_OUTPUT"
  else
    echo "$1=$2"
  fi
}

# A mistake in the action's inputs: exit 2, as slipway's bad input does.
fail() {
  echo "::error::slipway action: $*" >&2
  output exit-code 2
  exit 2
}

# Runs slipway ARGS, its exit code in $code.
code=0
slipway_() {
  set +e
  slipway "$@"
  code=$?
  set -e
}

[ -n "${SLIPWAY_TOKEN:-}" ] ||
  fail "no token: give the action's token input an API token from a secret (\`slipway token create\`)"
[ -n "${SLIPWAY_URL:-}" ] || fail "no server: give the action's server input the Slipway server's URL"
if [ "${GITHUB_ACTIONS:-}" = true ]; then
  # The runner hides it from here on (a secret already is; a token made
  # in the job would not be).
  echo "::add-mask::$SLIPWAY_TOKEN"
fi

# apply and promote: 2 is changes applied (or, dry, to apply).
changes() {
  output exit-code "$code"
  case "$code" in
    0) output changed false ;;
    2)
      output changed true
      exit 0
      ;;
  esac
  exit "$code"
}

case "$command" in
  apply)
    args=(apply "$path")
    [ -z "$environment" ] || args+=(--env "$environment")
    [ -z "$deployment" ] || args+=(--deployment "$deployment")
    if [ "${INPUT_DRY_RUN:-false}" = true ]; then
      plan="$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/slipway-plan.XXXXXX")"
      set +e
      slipway "${args[@]}" --dry-run --detailed-exitcode | tee "$plan"
      code=${PIPESTATUS[0]}
      set -e
      output plan "$plan"
    else
      slipway_ "${args[@]}" --auto-approve
    fi
    changes
    ;;
  promote)
    [ -n "$deployment" ] && [ -n "${INPUT_FROM:-}" ] && [ -n "${INPUT_TO:-}" ] ||
      fail "promote needs deployment, from and to"
    slipway_ promote "$deployment" --from "$INPUT_FROM" --to "$INPUT_TO" --path "$path" --auto-approve
    changes
    ;;
  test)
    cluster="${INPUT_CLUSTER:-}"
    if [ -z "$cluster" ]; then
      [ -n "$deployment" ] && [ -n "$environment" ] || fail "test needs a cluster, or deployment and environment"
      cluster="$deployment-$environment"
    fi
    [ -n "$version" ] || fail "test needs a version"
    output cluster "$cluster"
    slipway_ test "$cluster" --version "$version"
    output exit-code "$code"
    exit "$code"
    ;;
  cycle)
    [ -n "$deployment" ] && [ -n "$environment" ] ||
      fail "cycle needs deployment and environment: the layers its cluster is made of"
    [ -n "$version" ] || fail "cycle needs a version"
    cluster="${INPUT_CLUSTER:-$deployment-ci-${GITHUB_RUN_ID:-$(date +%s)}}"
    output cluster "$cluster"
    rendered="$(slipway render "$path" --env "$environment" --deployment "$deployment" --json)" ||
      fail "cannot read deployment $deployment in $environment from $path"
    layers() { jq -r ".[0] | $1" <<<"$rendered"; }
    [ "$(layers '.secrets == null')" = true ] ||
      fail "deployment $deployment has secrets in $environment, which a transient cluster is not given"
    create=(cluster create "$cluster" --blueprint "$(layers .blueprint)" --org "$(layers .organization)")
    [ "$(layers .version)" = null ] || create+=(--version "$(layers .version)")
    [ "$(layers .public)" != true ] || create+=(--public)
    nodes="${INPUT_NODES:-$(layers '.nodes // empty')}"
    [ -z "$nodes" ] || create+=(--nodes "$nodes")
    while IFS= read -r var; do
      create+=(--var "$var")
    done < <(layers '.variables // {} | to_entries[] | "\(.key)=\(.value)"')
    slipway_ "${create[@]}"
    if [ "$code" = 0 ]; then
      slipway_ deploy "$cluster" --ttl "${INPUT_TTL:-2h}"
      [ "$code" != 0 ] || slipway_ test "$cluster" --version "$version"
      result=$code
      # Whatever happened, nothing stays: the cluster goes, then its definition.
      slipway_ destroy "$cluster"
      [ "$code" != 0 ] || slipway_ cluster remove "$cluster"
      [ "$result" = 0 ] || code=$result
    fi
    output exit-code "$code"
    exit "$code"
    ;;
  *)
    fail "command must be apply, promote, test or cycle; got: $command"
    ;;
esac
