#!/usr/bin/env bash
# Puts the slipway CLI on PATH for the action's next step, as INPUT_INSTALL
# says: the URL of a release artifact (the binary, or a .tar.gz holding it;
# checked against INPUT_INSTALL_SHA256 when given), `none` (the slipway
# already on PATH), or empty: built from the action's own checkout (three
# levels above this directory) with `cargo install --locked`. Its directory
# goes to $GITHUB_PATH when that is set, and is printed. With
# INPUT_SLIPWAY_VERSION, the CLI must report that version.
set -euo pipefail

install="${INPUT_INSTALL:-}"
sha256="${INPUT_INSTALL_SHA256:-}"
want="${INPUT_SLIPWAY_VERSION:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/slipway-cli"

fail() {
  echo "::error::slipway action: $*" >&2
  exit 1
}

case "$install" in
  none)
    found="$(command -v slipway)" || fail "install is none, but no slipway is on PATH"
    bin="$(dirname "$found")"
    ;;
  "")
    command -v cargo >/dev/null || fail "no install URL given and no cargo to build slipway with"
    cargo install --locked --quiet --path "$here/../../../crates/cli" --root "$root"
    bin="$root/bin"
    ;;
  http://* | https://* | file://*)
    bin="$root/bin"
    mkdir -p "$bin"
    artifact="$root/artifact"
    curl --fail --silent --show-error --location --retry 3 --output "$artifact" "$install"
    if [ -n "$sha256" ]; then
      echo "$sha256  $artifact" | sha256sum --check --quiet ||
        fail "the artifact at $install does not have the SHA-256 install-sha256 gives"
    fi
    if tar -tzf "$artifact" >/dev/null 2>&1; then
      unpacked="$(mktemp -d "$root/unpacked.XXXXXX")"
      tar -xzf "$artifact" -C "$unpacked"
      found="$(find "$unpacked" -type f -name slipway -print -quit)"
      [ -n "$found" ] || fail "no slipway in the archive at $install"
      mv "$found" "$bin/slipway"
    else
      mv "$artifact" "$bin/slipway"
    fi
    chmod +x "$bin/slipway"
    ;;
  *)
    fail "install must be a release artifact's URL, none, or empty (build it); got: $install"
    ;;
esac

version="$("$bin/slipway" --version)"
if [ -n "$want" ] && [ "$version" != "slipway $want" ]; then
  fail "wanted slipway $want, got: $version"
fi
echo "$version in $bin"
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin" >>"$GITHUB_PATH"
fi
