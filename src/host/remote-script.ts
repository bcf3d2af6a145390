/**
 * The bash that each session step runs on the host. Two kinds:
 *  - discovery: find node (>= 20) and pueue (v4) where a non-interactive ssh
 *    login may not look (its PATH is minimal): PATH, ~/.local/bin,
 *    ~/.cargo/bin, /usr/local/bin, /usr/bin, nvm and volta dirs, Homebrew.
 *    The result stays in shell variables for the later steps of the session.
 *  - node steps: run an exported function of remote-side.ts with a JSON
 *    input; the compiled modules travel inside the script as `data:` URLs.
 *
 * Every value in a script is quoted by shQuote (src/transport/shell-quote.ts);
 * the program text goes to node on stdin (a here-string), never on a command
 * line, so no size limit on argv applies and nothing shows in `ps`. A secret
 * is passed to node as an environment variable of that one process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../generate/worker-bundle.js';
import { shQuote } from '../transport/shell-quote.js';
import { RemoteError, tail, type StepResult } from '../transport/transport.js';

// ---------------------------------------------------------------- discovery

export interface Discovery {
  node?: { path: string; version: string };
  pueue?: { path: string; version: string };
  pueued?: string;
  /** Every candidate tried, with what it reported: for error messages. */
  seen: string[];
  home: string;
  /** The host's name as its processes see it (`uname -n`, the gethostname() that node's os.hostname() reads). */
  hostname: string;
  /** Online CPUs (auto parallelism's ceiling); undefined when the host does not say. */
  cores?: number;
}

/** Node major version sweep needs on the host. */
export const MIN_NODE_MAJOR = 20;

export function discoveryStep(): string {
  return `
SWEEP_NODE= SWEEP_NODE_VERSION= SWEEP_PUEUE= SWEEP_PUEUE_VERSION= SWEEP_PUEUED=
__sweep_seen=()
__sweep_t() { if command -v timeout >/dev/null 2>&1; then timeout 15 "$@"; else "$@"; fi; }
__sweep_try_node() {
  local c=$1 v
  [ -n "$c" ] && [ -f "$c" ] && [ -x "$c" ] || return 1
  v=$(__sweep_t "$c" -e 'process.stdout.write(process.versions.node)' 2>/dev/null </dev/null) || { __sweep_seen+=("$c: does not run"); return 1; }
  __sweep_seen+=("$c: node $v")
  case $v in ''|*[!0-9.]*) return 1;; esac
  [ "\${v%%.*}" -ge ${MIN_NODE_MAJOR} ] || return 1
  SWEEP_NODE=$c SWEEP_NODE_VERSION=$v
}
__sweep_try_pueue() {
  local c=$1 v
  [ -n "$c" ] && [ -f "$c" ] && [ -x "$c" ] || return 1
  v=$(__sweep_t "$c" --version 2>/dev/null </dev/null) || { __sweep_seen+=("$c: does not run"); return 1; }
  __sweep_seen+=("$c: $v")
  case $v in 'pueue 4.'*) ;; *) return 1;; esac
  SWEEP_PUEUE=$c SWEEP_PUEUE_VERSION=\${v#pueue }
}
for __c in "$(command -v node 2>/dev/null)" "$HOME/.local/bin/node" /usr/local/bin/node /usr/bin/node "$HOME/.volta/bin/node" "$HOME"/.nvm/versions/node/v*/bin/node /opt/homebrew/bin/node "$HOME/.cargo/bin/node"; do
  __sweep_try_node "$__c" && break
done
for __c in "$(command -v pueue 2>/dev/null)" "$HOME/.cargo/bin/pueue" "$HOME/.local/bin/pueue" /usr/local/bin/pueue /usr/bin/pueue /opt/homebrew/bin/pueue; do
  __sweep_try_pueue "$__c" && break
done
if [ -n "$SWEEP_PUEUE" ] && [ -x "\${SWEEP_PUEUE%/*}/pueued" ]; then SWEEP_PUEUED=\${SWEEP_PUEUE%/*}/pueued; fi
printf '%s\\0' home "$HOME" hostname "$(uname -n)" cores "$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc 2>/dev/null)" node "$SWEEP_NODE" node_version "$SWEEP_NODE_VERSION" pueue "$SWEEP_PUEUE" pueue_version "$SWEEP_PUEUE_VERSION" pueued "$SWEEP_PUEUED"
for __c in "\${__sweep_seen[@]}"; do printf '%s\\0' seen "$__c"; done
`;
}

export function parseDiscovery(stdout: string): Discovery {
  const parts = stdout.split('\0');
  const d: Discovery = { seen: [], home: '', hostname: '' };
  const kv = new Map<string, string>();
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const k = parts[i] as string;
    const v = parts[i + 1] as string;
    if (k === 'seen') d.seen.push(v);
    else kv.set(k, v);
  }
  d.home = kv.get('home') ?? '';
  d.hostname = kv.get('hostname') ?? '';
  const node = kv.get('node');
  if (node) d.node = { path: node, version: kv.get('node_version') ?? '' };
  const pueue = kv.get('pueue');
  if (pueue) d.pueue = { path: pueue, version: kv.get('pueue_version') ?? '' };
  const pueued = kv.get('pueued');
  if (pueued) d.pueued = pueued;
  const cores = Number(kv.get('cores'));
  if (Number.isInteger(cores) && cores > 0) d.cores = cores;
  return d;
}

// ---------------------------------------------------------------- node steps

export type RemoteEntry = 'inspect' | 'prepare' | 'queue' | 'details' | 'stop' | 'logs';

interface Modules {
  ndjson: string;
  aside: string;
  remoteSide: string;
  /** The after-step runner, shipped as a file (see run-sql.ts). */
  runSql: string;
}

let modules: Modules | undefined;

/**
 * The compiled modules the remote runs: dist/src/results/ndjson.js and
 * dist/src/host/remote-side.js. Next to this module when it runs from dist;
 * from the package's dist otherwise (tests run the TypeScript sources).
 */
export function remoteModules(): Modules {
  if (modules) return modules;
  const here = dirname(fileURLToPath(import.meta.url));
  const besideUs = join(here, 'remote-side.js');
  const distSrc = existsSync(besideUs) ? join(here, '..') : join(packageRoot(), 'dist', 'src');
  const read = (rel: string): string => {
    const path = join(distSrc, rel);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      throw new Error(`${path} is missing: run 'npm run build' (the remote runs the compiled modules)`);
    }
    const bad = runtimeImports(text).filter((s) => !s.startsWith('node:'));
    if (bad.length > 0) throw new Error(`${path} imports ${bad.join(', ')} at run time; modules sent to the remote may import only node: builtins`);
    return text.replace(/\n\/\/# sourceMappingURL=.*$/m, '\n');
  };
  modules = { ndjson: read('results/ndjson.js'), aside: read('results/aside.js'), remoteSide: read('host/remote-side.js'), runSql: read('host/run-sql.js') };
  return modules;
}

/** Module specifiers of static and dynamic imports in compiled JS (type imports are gone by then). */
export function runtimeImports(js: string): string[] {
  const out: string[] = [];
  for (const m of js.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of js.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1] as string);
  for (const m of js.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1] as string);
  return out;
}

/** The node program: load the modules, run `entry(input)`, print `{ok, value}` or `{ok:false, error}` as JSON. */
export function nodeProgram(entry: RemoteEntry, input: unknown): string {
  const m = remoteModules();
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return [
    `const load = (b64) => import('data:text/javascript;base64,' + b64);`,
    `const ndjson = await load('${b64(m.ndjson)}');`,
    `const aside = await load('${b64(m.aside)}');`,
    `const side = await load('${b64(m.remoteSide)}');`,
    `const input = ${JSON.stringify(input)};`,
    `let out;`,
    `try { out = { ok: true, value: await side.${entry}(input, { ndjson, aside }) }; }`,
    `catch (err) { out = { ok: false, error: String((err && err.stack) || err) }; process.exitCode = 1; }`,
    `process.stdout.write(JSON.stringify(out));`,
    '',
  ].join('\n');
}

/**
 * A step body running `entry` under the node that discovery found. `secrets`
 * become environment variables of that node process only: they appear in the
 * script (read by bash from stdin), never on a command line or in a file.
 */
export function nodeStep(entry: RemoteEntry, input: unknown, secrets: Record<string, string> = {}): string {
  const env = Object.entries(secrets)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`bad env name ${k}`);
      return `${k}=${shQuote(v)} `;
    })
    .join('');
  return [
    `local __prog=${shQuote(nodeProgram(entry, input))}`,
    `[ -n "$SWEEP_NODE" ] || { echo 'sweep: no node found by discovery' >&2; return 90; }`,
    `${env}"$SWEEP_NODE" --input-type=module - <<<"$__prog"`,
  ].join('\n');
}

/** The value a node step returned, or a RemoteError naming the host and the step. */
export function parseNodeResult<T>(host: string, step: string, result: StepResult): T {
  let parsed: { ok: boolean; value?: T; error?: string } | undefined;
  try {
    parsed = JSON.parse(result.stdout) as { ok: boolean; value?: T; error?: string };
  } catch {
    parsed = undefined;
  }
  if (!parsed) {
    const why = result.code === 90 ? 'node was not found' : `node exited with ${result.code}`;
    throw new RemoteError(host, step, `${why} without a result${result.stderr.trim() ? `:\n${tail(result.stderr, 10)}` : ''}`, 'REMOTE_FAILED');
  }
  if (!parsed.ok) throw new RemoteError(host, step, `failed on the remote:\n${tail(parsed.error ?? '', 12)}`, 'REMOTE_FAILED');
  return parsed.value as T;
}
