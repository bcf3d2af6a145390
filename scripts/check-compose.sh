#!/usr/bin/env bash
# Validates docker-compose.yml against the Compose Specification without a Docker
# engine, with compose-go: the loader Docker Compose itself uses (schema, variable
# interpolation, consistency of services, volumes and networks), built from its Go
# module at a pinned version. Debian's docker-compose 1.29 is no judge: it predates
# the specification and refuses the top-level `name:`. Also checks the remote
# container's entrypoint (sh -n) and sshd drop-in (sshd -t). Run by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

COMPOSE_GO=github.com/compose-spec/compose-go/v2
COMPOSE_GO_VERSION=v2.16.2

export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
if ! command -v go >/dev/null 2>&1; then
  echo "check-compose: go not found (compose-go $COMPOSE_GO_VERSION needs Go >= 1.24; Debian 12's golang-go is 1.19)" >&2
  exit 1
fi
bin_dir="${XDG_CACHE_HOME:-$HOME/.cache}/sweep/compose-go-$COMPOSE_GO_VERSION"
validator="$bin_dir/cmd"
if [ ! -x "$validator" ]; then
  echo "building compose-go $COMPOSE_GO_VERSION's validator ($(go version | cut -d' ' -f3))"
  GOBIN="$bin_dir" GOFLAGS=-mod=mod go install "$COMPOSE_GO/cmd@$COMPOSE_GO_VERSION" </dev/null
fi

work="$(mktemp -d /tmp/sweep-compose.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# compose-go's cmd (v2.16.2) interpolates with an empty environment (its
# LoadModel does not pass the options' environment on), so what it checks is the
# file with every variable at its default, as a user without a .env gets it.
env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "$validator" --format json docker-compose.yml >"$work/model.json"
node - "$work/model.json" <<'JS'
const fs = require('node:fs');
const plain = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (why) => { console.error(`check-compose: ${why}`); process.exit(1); };
if (plain.name !== 'sweep-dev') fail(`project name ${plain.name}, expected sweep-dev`);
const mounts = (m, target) => (m.services.remote.volumes ?? []).find((v) => v.target === target);
const keys = mounts(plain, '/var/lib/sweep-remote/ssh');
if (!keys || keys.type !== 'volume' || keys.source !== 'remote-hostkeys') fail('the remote host keys are not kept in the remote-hostkeys volume');
if (!plain.volumes?.['remote-hostkeys']) fail('volume remote-hostkeys is not declared');
if (mounts(plain, '/authorized_keys')?.source !== '/dev/null') fail('without SWEEP_AUTHORIZED_KEYS, /authorized_keys should be /dev/null');
JS

# The validator must refuse what the specification does not allow, or a pass means nothing.
sed 's/^    image: sweep-remote:dev$/    image: sweep-remote:dev\n    portz: ["2222:22"]/' docker-compose.yml >"$work/docker-compose.yml"
cp -r docker "$work/"
if (cd "$work" && "$validator" docker-compose.yml >/dev/null 2>"$work/refused.txt"); then
  echo "check-compose: the validator accepted an unknown key (services.remote.portz)" >&2
  exit 1
fi
grep -q portz "$work/refused.txt" || { echo "check-compose: refused, but not for portz: $(cat "$work/refused.txt")" >&2; exit 1; }

sh -n docker/remote/entrypoint.sh
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
sshd -t -f docker/remote/sshd_config -h "$work/hostkey" 2>"$work/sshd.txt" || { cat "$work/sshd.txt" >&2; exit 1; }
echo "compose: docker-compose.yml conforms to the Compose Specification (compose-go $COMPOSE_GO_VERSION); entrypoint and sshd config parse"
