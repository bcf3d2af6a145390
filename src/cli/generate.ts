import type { Command } from 'commander';
import type { GenerateSummary } from '../generate/generate.js';
import { positiveIntFlag } from '../flags.js';
import type { CliIo } from './io.js';

interface GenerateFlags {
  out?: string;
  dryRun?: boolean;
  json?: boolean;
  refreshValues?: boolean;
  limit?: string;
}

export function registerGenerate(program: Command, io: CliIo): void {
  program
    .command('generate <spec>')
    .description('expand the grid: one SQL file per config, the manifest and the worker bundle')
    .option('--out <dir>', 'output directory (default: out/<name> under the current directory)')
    .option('--dry-run', 'validate and count, write nothing; prints the grid per param and per unit and the first ids')
    .option('--refresh-values', 'read {file}, {csv} and {sql} param values again instead of the frozen ones, and report what changed')
    .option('--limit <n>', 'a smoke run: only n configs, spread over the units (marked in the manifest)')
    .option('--json', 'print a JSON summary on stdout')
    .action(async (spec: string, flags: GenerateFlags) => {
      const { generate } = await import('../generate/generate.js');
      const limit = flags.limit === undefined ? undefined : positiveIntFlag('--limit', flags.limit);
      const summary = await generate({
        specPath: spec,
        outDir: flags.out,
        dryRun: flags.dryRun === true,
        refreshValues: flags.refreshValues === true,
        ...(limit !== undefined ? { limit } : {}),
      });
      for (const note of summary.notes) io.stderr(`${note}
`);
      for (const w of summary.warnings) io.stderr(`warning: ${w}\n`);
      if (flags.json) {
        io.stdout(`${JSON.stringify(summary)}\n`);
        return;
      }
      const verb = flags.dryRun ? 'would write' : 'wrote';
      io.stdout(
        `${flags.dryRun ? formatGrid(summary) : ''}` +
          `${summary.configs} configs in ${summary.units} unit${summary.units === 1 ? '' : 's'} -> ${summary.out}\n` +
          `${verb} ${summary.written}, unchanged ${summary.unchanged}, removed ${summary.removed}\n`,
      );
    });
}

const n = (x: number) => x.toLocaleString('en-US');

/** What --dry-run prints before the counts: the grid per param, what was removed, per unit, the first ids. */
export function formatGrid(s: GenerateSummary): string {
  const g = s.grid;
  const linked = new Set(g.links.flat());
  const factors = [
    ...Object.entries(g.params)
      .filter(([name]) => !linked.has(name))
      .map(([name, count]) => `${name} ${n(count)}`),
    ...g.links.map((group) => `[${group.join(' + ')}] ${n(g.params[group[0] as string] ?? 0)} (linked)`),
  ];
  const lines = [`grid: ${factors.join(' x ')} = ${n(g.combinations)} combinations`];
  const removed = (
    [
      ['exclude', g.removed.exclude],
      ['where', g.removed.where],
      ['sample', g.removed.sample],
      ['--limit', g.removed.limit],
    ] as const
  )
    .filter(([, count]) => count > 0)
    .map(([what, count]) => `${n(count)} by ${what}`);
  lines.push(`removed: ${removed.length > 0 ? removed.join(', ') : 'none'} -> ${n(s.configs)} configs`);
  const sizes = g.per_unit.map((u) => u.configs);
  const shown = g.per_unit.slice(0, 5).map((u) => `${u.unit} ${n(u.configs)}`);
  lines.push(
    `units: ${n(g.per_unit.length)}, ${n(Math.min(...sizes))}${Math.min(...sizes) === Math.max(...sizes) ? '' : ` to ${n(Math.max(...sizes))}`} configs each: ${shown.join(', ')}${g.per_unit.length > 5 ? ', ...' : ''}`,
  );
  lines.push('first ids:', ...g.first_ids.map((id) => `  ${id}`));
  return `${lines.join('\n')}\n`;
}
