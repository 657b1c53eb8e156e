#!/usr/bin/env bash
# Installs redis-server and redis-tools (redis-cli, redis-benchmark) with
# apt-get when they are missing. Sourced by test.sh and bench.sh.
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1 \
    || ! command -v redis-benchmark >/dev/null 2>&1; then
    echo "==> redis-server not found: installing redis-server and redis-tools with apt-get"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools
fi
