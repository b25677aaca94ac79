#!/usr/bin/env bash
# The deploy path, checked without a Cloudflare account (CI):
#   - the top-level config (local development) builds with `wrangler deploy --dry-run`;
#   - every [env.<tenant>] of wrangler.toml goes through `npm run deploy -- --env <tenant> --dry-run`
#     (the one-command deploy: remote migrations are skipped in a dry run, wrangler builds the bundle);
#   - every bundle stays within the bundle budget (gzipped upload size, below);
#   - scripts/check-deploy.ts: routes cover every documented path, workers_dev is explicit, the
#     retention cron and the D1 binding are there, and a bare `npm run deploy` / `npm run build`
#     refuses.
#
#   bash scripts/check-bundles.sh                  # enforce the CI budget (below)
#   bash scripts/check-bundles.sh --budget-kib=64  # enforce another budget (or BUNDLE_BUDGET_KIB=64)
#
# Two budgets are reported for every environment: the one enforced (exit 1 when exceeded) and
# issue 19's target, 64 KiB. The target is not reached: with every schema built lazily the bundle is
# 103.9 KiB gzipped (330.3 KiB minified), and what is left is code, not startup
# work — zod's classic API with its JSON Schema processors (~100 KiB minified, pulled in by every
# classic schema's `.toJSONSchema`), the protocols, and the API reference (src/docs, ~41 KiB minified;
# serving it as a static asset would save ~15 KiB gzipped). Reaching 64 KiB needs zod/mini for the
# schemas plus the reference out of the bundle (bench/FINDINGS.md, "Session 5").
#
# With the schemas on zod/mini (no zod classic in the bundle) it is 102.1 KiB gzipped. ENFORCED_BUDGET_KIB is
# that plus ~3 % room; lower it as the bundle shrinks, and to 64 when it gets there.
set -euo pipefail
cd "$(dirname "$0")/.."

ENFORCED_BUDGET_KIB=105
TARGET_BUDGET_KIB=64

budget_kib="${BUNDLE_BUDGET_KIB:-$ENFORCED_BUDGET_KIB}"
for arg in "$@"; do
  case "$arg" in
    --budget-kib=*) budget_kib="${arg#--budget-kib=}" ;;
    *) echo "usage: $0 [--budget-kib=N]" >&2; exit 2 ;;
  esac
done
if ! [[ "$budget_kib" =~ ^[0-9]+$ ]]; then
  echo "bundle budget must be a whole number of KiB, got '$budget_kib'" >&2
  exit 2
fi
budget_bytes=$((budget_kib * 1024))
target_bytes=$((TARGET_BUDGET_KIB * 1024))
echo "bundle budget: ${budget_kib} KiB gzipped enforced; issue 19 target ${TARGET_BUDGET_KIB} KiB reported"

kib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1024 }'; }

envs=("" $(grep -oE '^\[env\.[A-Za-z0-9_-]+\]' wrangler.toml | sed -E 's/^\[env\.([^]]+)\]$/\1/' | sort -u))
failed=0
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
  gzip9=$(gzip -9 -c "$bundle" | wc -c)
  # Cloudflare's size limit applies to the compressed upload wrangler reports; gzip -9 is the fallback.
  wrangler_gz_kib=$(sed -nE 's/.*Total Upload:[^/]*\/ gzip: ([0-9.]+) KiB.*/\1/p' "$out.log" | tail -n 1)
  if [ -n "$wrangler_gz_kib" ]; then
    gz=$(awk -v k="$wrangler_gz_kib" 'BEGIN { printf "%d", k * 1024 }')
    source="wrangler's upload gzip"
  else
    gz=$gzip9
    source="gzip -9"
  fi
  verdict() { if [ "$gz" -le "$1" ]; then echo "ok"; else echo "over by $(kib $((gz - $1))) KiB"; fi; }
  echo "   $(basename "$bundle"): ${raw} bytes, $(kib "$gz") KiB gzipped (${source}; gzip -9 $(kib "$gzip9") KiB)"
  echo "   enforced budget ${budget_kib} KiB: $(verdict "$budget_bytes");  target ${TARGET_BUDGET_KIB} KiB: $(verdict "$target_bytes")$([ "$budget_kib" -ne "$TARGET_BUDGET_KIB" ] && echo " (not enforced yet)")"
  if [ "$gz" -gt "$budget_bytes" ]; then
    echo "bundle budget exceeded${env:+ for env $env}: $(kib "$gz") KiB > ${budget_kib} KiB gzipped" >&2
    failed=1
  fi
done
if [ "$failed" -ne 0 ]; then exit 1; fi
echo "bundles ok (${budget_kib} KiB)"
npx tsx scripts/check-deploy.ts
