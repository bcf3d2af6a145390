/**
 * The runner of the spec's `after` steps, shipped to the remote as
 * `<sweep>/.sweep/run-sql.mjs` by submit-all (the worker bundle's CLI has no
 * command for a single statement). It POSTs one SQL statement to ClickHouse's
 * HTTP interface and exits 0 on success, 1 on a server error (message on
 * stderr, which is the pueue log), 2 on bad arguments.
 *
 * Node builtins only (it runs from a single file). The password comes from
 * env CLICKHOUSE_PASSWORD, which the task command reads from the sweep's
 * private 0600 file; never from an argument.
 */
import { readFileSync } from 'node:fs';

export async function runSql(argv: string[]): Promise<number> {
  const args = new Map<string, string>();
  for (let i = 0; i + 1 < argv.length; i += 2) args.set(String(argv[i]).replace(/^--/, ''), String(argv[i + 1]));
  const url = args.get('url');
  const file = args.get('file');
  const name = args.get('name') ?? 'after';
  if (!url || !file) {
    process.stderr.write('usage: run-sql.mjs --url URL --file SQL_FILE [--user U] [--database D] [--timeout-s N] [--name NAME]\n');
    return 2;
  }
  const sql = readFileSync(file, 'utf8');
  const u = new URL(url);
  u.searchParams.set('database', args.get('database') ?? 'default');
  const user = args.get('user') ?? 'default';
  const password = process.env['CLICKHOUSE_PASSWORD'] ?? '';
  const timeoutS = Number(args.get('timeout-s') ?? '600');
  const t0 = performance.now();
  process.stderr.write(`after step ${name}: running ${sql.trim().split('\n')[0]?.slice(0, 120) ?? ''}\n`);
  try {
    const res = await fetch(u, {
      method: 'POST',
      body: sql,
      headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
      signal: AbortSignal.timeout(timeoutS * 1000),
    });
    const text = await res.text();
    if (!res.ok) {
      process.stderr.write(`after step ${name}: ClickHouse answered HTTP ${res.status}: ${text.trim().slice(0, 2000)}\n`);
      return 1;
    }
    if (text.trim()) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    process.stderr.write(`after step ${name}: request failed: ${e.cause?.code ?? e.message}\n`);
    return 1;
  }
  process.stderr.write(`after step ${name}: ok in ${Math.round(performance.now() - t0)} ms\n`);
  return 0;
}
