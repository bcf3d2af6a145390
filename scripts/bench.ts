/**
 * `npm run bench -- <name> [args]`: each benchmark prints its figures next to a
 * baseline measured in the same run, as ratios. Names: generate, worker, submit, e2e, demo,
 * report, export, hosts.
 */
const BENCHES = ['generate', 'worker', 'submit', 'e2e', 'demo', 'report', 'export', 'hosts'] as const;

const [name, ...args] = process.argv.slice(2);
const chosen = name ? [name] : ['generate'];
for (const b of chosen) {
  if (!(BENCHES as readonly string[]).includes(b)) {
    process.stderr.write(`bench: expected one of ${BENCHES.join(', ')}, found ${JSON.stringify(b)}\n`);
    process.exit(2);
  }
  const mod = (await import(`./bench-${b}.js`)) as { run: (args: string[]) => Promise<void> };
  await mod.run(args);
}
