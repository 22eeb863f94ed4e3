#!/usr/bin/env bash
# Installs what Sealkit needs on a fresh Debian/Ubuntu machine: pnpm, the workspace's packages, and with --system
# the system packages the tests use (SoftHSM2, Chromium, the AWS CLI, boto3, wrk, strace, the sqlite3 shell of the
# documented backup, and zsh and fish for the CLI's completion scripts).
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
SYSTEM_PACKAGES=(softhsm2 chromium wrk strace zsh fish sqlite3)

if [[ "${1:-}" == "--system" ]]; then
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  # The AWS tools the KMS server is tested with (packages/kms-local/src/server/aws-tools.test.ts): Debian's, unless
  # an AWS CLI or a boto3 is there already (a pip or pyenv install is kept as it is).
  command -v aws >/dev/null 2>&1 || SYSTEM_PACKAGES+=(awscli)
  python3 -c "import boto3" >/dev/null 2>&1 || SYSTEM_PACKAGES+=(python3-boto3)
  echo "==> apt-get install ${SYSTEM_PACKAGES[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${SYSTEM_PACKAGES[@]}" >/dev/null
fi

if [[ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]]; then
  echo "==> npm install -g pnpm@$PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

# Native addons (better-sqlite3, pkcs11js) compile against Node's own headers; without this node-gyp tries to
# download them. It is read from the environment only (pnpm ignores it in .npmrc).
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
echo "==> pnpm install"
pnpm install --frozen-lockfile
