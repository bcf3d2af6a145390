import type { Command } from 'commander';
import type { CliIo } from './io.js';

interface SetupFlags {
  dir: string;
  clickhouseUrl?: string;
  force?: boolean;
  json?: boolean;
}

/**
 * `sweep setup-target`: run a generated sweep's setup.sql on a target once
 * (what submit-all runs on the host, through the shipped worker bundle).
 * Internal: users run `sweep run` or `sweep submit-all`, which call it.
 */
export function registerSetupTarget(program: Command, io: CliIo): void {
  program
    .command('setup-target', { hidden: true })
    .description("run a sweep dir's setup.sql on its target once (submit-all runs this on the host)")
    .requiredOption('--dir <dir>', "the sweep directory written by 'sweep generate'")
    .option('--clickhouse-url <url>', 'ClickHouse HTTP URL (default: env CLICKHOUSE_URL, then the spec)')
    .option('--force', 'run it again even though it ran with this SQL')
    .option('--json', 'print the outcome as JSON on stdout')
    .action(async (flags: SetupFlags) => (await import('../worker/command.js')).setupTargetCommand(flags, io));
}
