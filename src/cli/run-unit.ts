import type { Command } from 'commander';
import { UserError } from '../errors.js';
import type { CliIo } from './main.js';

/** Placeholder until the worker lands: exits 2 saying so. */
export function registerRunUnit(program: Command, _io: CliIo): void {
  program
    .command('run-unit')
    .description('the worker: run one unit against ClickHouse (not available yet)')
    .allowUnknownOption()
    .action(() => {
      throw new UserError('NOT_YET', "'sweep run-unit' is not available in this version yet: it lands with the worker issue (#3).");
    });
}
