#!/usr/bin/env bash
# Builds the worker bundle with `wrangler deploy --dry-run` for the top-level config and every
# [env.<tenant>] in wrangler.toml, and enforces the bundle budget (150 KiB gzipped).
set -euo pipefail
cd "$(dirname "$0")/.."
budget_bytes=$((150 * 1024))
envs=("" $(grep -oE '^\[env\.[A-Za-z0-9_-]+\]' wrangler.toml | sed -E 's/^\[env\.([^]]+)\]$/\1/' | sort -u))
for env in "${envs[@]}"; do
  out=$(mktemp -d)
  if [ -z "$env" ]; then
    echo "-- dry-run: top level"
    npx wrangler deploy --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  else
    echo "-- dry-run: env $env"
    npx wrangler deploy --dry-run --env "$env" --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
  fi
  bundle=$(ls "$out"/*.js | head -n 1)
  raw=$(wc -c <"$bundle")
  gz=$(gzip -9 -c "$bundle" | wc -c)
  echo "   bundle $(basename "$bundle"): ${raw} bytes, ${gz} bytes gzipped (budget ${budget_bytes})"
  if [ "$gz" -gt "$budget_bytes" ]; then
    echo "bundle budget exceeded: ${gz} > ${budget_bytes} bytes gzipped" >&2
    exit 1
  fi
done
echo "bundles ok"
