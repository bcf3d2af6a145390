#!/usr/bin/env bash
# The package as a user gets it: `npm pack` (which builds first), installed on a
# clean prefix (dependencies from the registry), then `sweep --version` and the
# packaged example sweep run end to end on the embedded engine, from a directory
# outside the checkout. Run by .ci/run; a developer can run it too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

work="$(mktemp -d /tmp/sweep-package.XXXXXX)"
trap 'rm -rf "$work"' EXIT

npm pack --silent --pack-destination "$work" >/dev/null </dev/null
tarball="$(ls "$work"/sweep-*.tgz)"
echo "packed: $(basename "$tarball") ($(du -k "$tarball" | cut -f1) kB)"

# A private prefix and an empty user config: nothing of this machine's global npm is used.
npm install --global --prefix "$work/prefix" --userconfig "$work/npmrc" --no-audit --no-fund --no-update-notifier --loglevel=error "$tarball" </dev/null
export PATH="$work/prefix/bin:$(dirname "$(command -v node)"):/usr/bin:/bin"
echo "sweep on PATH: $(command -v sweep)"
version="$(sweep --version)"
expected="$(node -p 'require("./package.json").version')"
if [ "$version" != "$expected" ]; then
  echo "sweep --version says $version, package.json $expected" >&2
  exit 1
fi

pkg="$work/prefix/lib/node_modules/sweep"
for f in dist/worker.mjs sql/breakout.yaml sql/breakout.sql sql/breakout-setup.sql; do
  [ -f "$pkg/$f" ] || { echo "the package lacks $f" >&2; exit 1; }
done
mkdir "$work/demo"
cp "$pkg"/sql/breakout* "$work/demo/"
(cd "$work/demo" && CLICKHOUSE_URL= sweep run breakout.yaml --quiet </dev/null)
echo "package: ok (sweep $version installed from the tarball ran the example sweep)"
