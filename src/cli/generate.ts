import type { Command } from 'commander';
import type { CliIo } from './io.js';

interface GenerateFlags {
  out?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerGenerate(program: Command, io: CliIo): void {
  program
    .command('generate <spec>')
    .description('expand the grid: one SQL file per config, the manifest and the worker bundle')
    .option('--out <dir>', 'output directory (default: out/<name> under the current directory)')
    .option('--dry-run', 'validate and count, write nothing')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (spec: string, flags: GenerateFlags) => {
      const { generate } = await import('../generate/generate.js');
      const summary = await generate({ specPath: spec, outDir: flags.out, dryRun: flags.dryRun === true });
      for (const w of summary.warnings) io.stderr(`warning: ${w}\n`);
      if (flags.json) {
        io.stdout(`${JSON.stringify(summary)}\n`);
        return;
      }
      const verb = flags.dryRun ? 'would write' : 'wrote';
      io.stdout(
        `${summary.configs} configs in ${summary.units} units -> ${summary.out}\n` +
          `${verb} ${summary.written}, unchanged ${summary.unchanged}, removed ${summary.removed}\n`,
      );
    });
}
