import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { homedir, hostname } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lacks } from '../harness/components.js';
import { startSshd, type SshdHandle } from '../harness/sshd.js';
import { makeTempDir, type TempDir } from '../harness/tmp.js';

const run = promisify(execFile);

/** POSIX single-quoting for one word of a remote shell command line. */
function quote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function listTree(root: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(relative(root, full), await readFile(full));
  }
  return files;
}

function acceptedLogins(log: string): number {
  return log.split('\n').filter((line) => line.startsWith('Accepted publickey')).length;
}

describe.skipIf(lacks('sshd'))('private sshd harness', () => {
  let sshd: SshdHandle;
  let local: TempDir;
  let remote: TempDir;
  const userSshDir = join(homedir(), '.ssh');
  const userSshBefore = existsSync(userSshDir) ? statSync(userSshDir).mtimeMs : undefined;

  beforeAll(async () => {
    sshd = await startSshd();
    local = makeTempDir('local');
    remote = makeTempDir('remote');
  });

  afterAll(async () => {
    await sshd?.stop();
    await local?.remove();
    await remote?.remove();
  });

  it('runs a command through sshd with arguments intact', async () => {
    const tricky = `it's a "quoted"  arg with  spaces $HOME \\n`;
    const res = await sshd.exec(`printf '%s\\n' "$(hostname)" ${quote(tricky)} "$SSH_CONNECTION"`);
    expect(res.stderr).toBe('');
    expect(res.exitCode).toBe(0);
    const [host, arg, connection] = res.stdout.split('\n');
    expect(host).toBe(hostname());
    expect(arg).toBe(tricky);
    // The server side saw a connection to our private port: this went through sshd.
    expect(connection?.split(' ')).toEqual(['127.0.0.1', expect.stringMatching(/^\d+$/), '127.0.0.1', String(sshd.port)]);
    expect(acceptedLogins(await sshd.readLog())).toBeGreaterThanOrEqual(1);
  });

  it('passes exit codes and stdin through', async () => {
    const failed = await sshd.exec('cat; exit 7', { input: 'from stdin' });
    expect(failed.exitCode).toBe(7);
    expect(failed.stdout).toBe('from stdin');
  });

  it('rsyncs a tree through the alias into a distinct dir, byte for byte', async () => {
    const src = join(local.path, 'tree');
    await mkdir(join(src, 'nested', 'deeper'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    await writeFile(join(src, 'name with spaces.txt'), 'spaces ok\n');
    await writeFile(join(src, 'nested', 'bin.dat'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 37) % 256)));
    await writeFile(join(src, 'nested', 'deeper', 'empty'), '');
    const dest = join(remote.path, 'copy');
    expect(existsSync(dest)).toBe(false);
    const loginsBefore = acceptedLogins(await sshd.readLog());

    await run('rsync', ['-a', '-e', sshd.rsyncRsh, `${src}/`, `${sshd.host}:${dest}/`]);

    expect(acceptedLogins(await sshd.readLog())).toBe(loginsBefore + 1);
    const sent = await listTree(src);
    const arrived = await listTree(dest);
    expect([...arrived.keys()].sort()).toEqual([...sent.keys()].sort());
    expect(sent.size).toBe(4);
    for (const [path, bytes] of sent) expect(arrived.get(path)?.equals(bytes)).toBe(true);
  });

  it('leaves ~/.ssh alone', () => {
    const after = existsSync(userSshDir) ? statSync(userSshDir).mtimeMs : undefined;
    expect(after).toBe(userSshBefore);
  });
});

describe.skipIf(lacks('sshd'))('sshd harness stop()', () => {
  it('closes the port and removes its dir', async () => {
    const sshd = await startSshd();
    expect(await connects(sshd.port)).toBe(true);
    await sshd.stop();
    expect(await connects(sshd.port)).toBe(false);
    expect(existsSync(sshd.dir)).toBe(false);
    await sshd.stop(); // idempotent
  });
});
