// TEST-ONLY: an HTTP front that serves ClickHouse's HTTP interface from chDB (ClickHouse 26.x,
// embedded), so the http engine meets a CURRENT server's defaults in CI, where no current
// clickhouse-server can be installed: 64-bit integers unquoted (25.8+), decimals and NaN/Inf
// unquoted unless asked, named tuples as objects, errors with X-ClickHouse-Exception-Code.
// Each request runs with its own URL settings (SET in a chDB session of its own, or the
// session_id's). Not a server: no auth, no KILL QUERY by query_id, one process.
// Usage: node chdb-http-front.mjs <data dir>; prints `listening <port>` on stdout.
import { createServer } from 'node:http';
import { Session } from 'chdb';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: chdb-http-front.mjs <data dir>');
const control = new Session(dataDir);
const sessions = new Map();
const IGNORED = new Set(['query', 'query_id', 'database', 'default_format', 'session_id', 'session_timeout', 'session_check', 'user', 'password', 'cancel_http_readonly_queries_on_client_close']);
const quote = (v) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function handle(req, res) {
  const url = new URL(req.url, 'http://front');
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks).toString('utf8');
  const query = [url.searchParams.get('query') ?? '', body].filter((s) => s !== '').join('\n');
  const sid = url.searchParams.get('session_id');
  let session = sid ? sessions.get(sid) : undefined;
  const fresh = !session;
  session ??= new Session(dataDir);
  if (sid && fresh) sessions.set(sid, session);
  const format = url.searchParams.get('default_format') ?? 'TabSeparated';
  try {
    const db = url.searchParams.get('database');
    if (db) await session.queryAsync(`USE ${db.replace(/[^A-Za-z0-9_]/g, '')}`);
    for (const [k, v] of url.searchParams) {
      if (!IGNORED.has(k) && /^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) await session.queryAsync(`SET ${k} = ${/^-?[0-9.]+$/.test(v) ? v : quote(v)}`);
    }
    const r = await session.queryAsync(query, { format });
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=UTF-8',
      'X-ClickHouse-Summary': JSON.stringify({ read_rows: String(r.rowsRead), read_bytes: String(r.bytesRead) }),
    });
    res.end(r.text());
  } catch (err) {
    const code = typeof err.clickhouseCode === 'number' ? err.clickhouseCode : 1001;
    const text = String(err.message).replace(/\s+$/, '');
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': String(code) });
    // Current servers write the exception into a JSON output format (http_write_exception_in_output_format).
    res.end(format.startsWith('JSON') ? `${JSON.stringify({ exception: text })}\n` : `${text}\n`);
  } finally {
    if (!sid) session.close();
  }
}

const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    res.writeHead(500);
    res.end(String(err));
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${server.address().port}\n`));
const stop = () => {
  server.close();
  for (const s of sessions.values()) s.close();
  control.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
