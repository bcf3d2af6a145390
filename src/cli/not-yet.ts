/**
 * Commands of the design whose issue has not landed yet. They are registered so
 * `sweep --help` shows the whole contract, and exit 2 saying so.
 */
import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { CliIo } from './main.js';

const pending: Array<{ name: string; args: string; summary: string; issue: string }> = [
  { name: 'run-unit', args: '', summary: 'the worker: run one unit against ClickHouse', issue: 'the worker issue (#3)' },
  { name: 'submit-all', args: '<spec>', summary: 'ship and queue the sweep on the remote host', issue: 'the remote-tier issue (#4)' },
  { name: 'status', args: '<spec>', summary: 'per-unit and overall progress', issue: 'the remote-tier issue (#4)' },
  { name: 'collect', args: '<spec>', summary: 'bring results back, validate, merge, export', issue: 'the remote-tier issue (#4)' },
  { name: 'run', args: '<spec>', summary: 'generate, run every unit and collect on this machine', issue: 'the first-run issue (#5)' },
];

export function registerNotYet(program: Command, _io: CliIo): void {
  for (const p of pending) {
    if (program.commands.some((c) => c.name() === p.name)) continue;
    const cmd = program.command(`${p.name}${p.args ? ` ${p.args}` : ''}`).description(`${p.summary} (not available yet)`);
    cmd.allowUnknownOption().allowExcessArguments();
    cmd.action(() => {
      throw new UserError('NOT_YET', `'sweep ${p.name}' is not available in this version yet: it lands with ${p.issue}.`);
    });
  }
}
