#!/usr/bin/env bash
# The deploy path, checked without a Cloudflare account (CI):
#   - the top-level config (local development) builds with `wrangler deploy --dry-run`;
#   - every [env.<tenant>] of wrangler.toml goes through `npm run deploy -- --env <tenant> --dry-run`
#     (the one-command deploy: remote migrations are skipped in a dry run, wrangler builds the bundle);
#   - every bundle stays within the budget (150 KiB gzipped);
#   - scripts/check-deploy.ts: routes cover every documented path, workers_dev is explicit, the
#     retention cron and the D1 binding are there, and a bare `npm run deploy` / `npm run build`
#     refuses.
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
    echo "-- dry-run: npm run deploy -- --env $env --dry-run"
    npm run --silent deploy -- --env "$env" --dry-run --outdir "$out" >"$out.log" 2>&1 || { cat "$out.log"; exit 1; }
    grep -q "skipping \`wrangler d1 migrations apply RESPONSE_INDEX --remote --env $env\`" "$out.log" || {
      cat "$out.log"; echo "the deploy of $env does not apply its remote migrations first" >&2; exit 1;
    }
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
npx tsx scripts/check-deploy.ts
