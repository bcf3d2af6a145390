import type { Command } from 'commander';
import { positiveIntFlag } from '../flags.js';
import type { CliIo } from './io.js';

interface LogsFlags {
  out?: string;
  follow?: boolean;
  lines?: string;
}

export function registerLogs(program: Command, io: CliIo): void {
  program
    .command('logs <spec> [unit]')
    .description("the workers' own logs (<sweep dir>/logs/<unit>.log on the host), through one ssh session")
    .option('--out <dir>', 'the output of sweep generate (default: out/<name> under the current directory)')
    .option('-f, --follow', 'keep printing what the workers append (Ctrl-C ends it)')
    .option('-n, --lines <n>', 'lines from the end of each log', '40')
    .action(async (spec: string, unit: string | undefined, flags: LogsFlags) => {
      const { showLogs } = await import('../remote/logs.js');
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await showLogs({
          specPath: spec,
          ...(unit !== undefined ? { unit } : {}),
          outDir: flags.out,
          lines: positiveIntFlag('--lines', flags.lines ?? '40'),
          follow: flags.follow === true,
          stop: stop.signal,
          write: io.stdout,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
