#!/usr/bin/env bash
# Installs the Rust pieces the build needs; cheap when already present.
set -euo pipefail
rustup target list --installed | grep -qx x86_64-unknown-none || rustup target add x86_64-unknown-none
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
