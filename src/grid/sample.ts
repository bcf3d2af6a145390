/**
 * Choosing subsets of a grid, deterministically.
 *
 * `sample: {n, seed}` ranks every config by a seeded hash of its id and keeps
 * the n lowest ranks. The rank of a config depends on nothing but its id and
 * the seed, so the same seed gives the same subset on any machine, a larger n
 * keeps every config a smaller n kept (finished configs stay in the sweep), and
 * adding values to the grid never reshuffles the configs already chosen. The
 * hash is cyrb53 (bryc's public-domain 53-bit string hash: two 32-bit
 * multiply-xorshift lanes); it is part of the format: changing it would change
 * every sweep's sample.
 *
 * `--limit N` takes a smoke run of N configs spread over the units.
 */

/** cyrb53 of a string's UTF-16 code units (ids are ASCII), seeded; an integer below 2^53. */
export function rankOf(id: string, seed: number): number {
  return rankOfParts([id], '', seed);
}

/**
 * rankOf(parts.join(separator)) without building the string: the grid ranks
 * every combination that survives `where`, most of which sample then drops.
 */
export function rankOfParts(parts: readonly string[], separator: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let k = 0; k < parts.length; k++) {
    if (k > 0) {
      for (let i = 0; i < separator.length; i++) {
        const ch = separator.charCodeAt(i);
        h1 = Math.imul(h1 ^ ch, 2654435761);
        h2 = Math.imul(h2 ^ ch, 1597334677);
      }
    }
    const part = parts[k] as string;
    for (let i = 0; i < part.length; i++) {
      const ch = part.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Where to cut so that exactly n of `ranks` are kept: every config ranked
 * below `rank`, and of those ranked exactly `rank` (a hash tie, rare at 53
 * bits) the first `n - below` in id order.
 */
export function sampleCut(ranks: Float64Array, n: number): { rank: number; below: number } {
  const sorted = ranks.slice().sort();
  const rank = sorted[n - 1] as number;
  let below = 0;
  while (below < n && (sorted[below] as number) < rank) below++;
  return { rank, below };
}

/**
 * Positions to keep for a smoke run of `n` configs over units of the given
 * sizes: units evenly spaced when n is smaller than their number, otherwise
 * every unit gets its share (n / units, more where others run short); within a
 * unit, configs evenly spaced over its sorted ids. Returns, per unit, the
 * sorted positions of the configs to keep.
 */
export function spreadLimit(sizes: readonly number[], n: number): number[][] {
  const quotas = new Array<number>(sizes.length).fill(0);
  if (n < sizes.length) {
    for (let k = 0; k < n; k++) quotas[Math.floor(((k + 0.5) * sizes.length) / n)] = 1;
  } else {
    let left = n;
    let open = sizes.map((_, i) => i);
    while (left > 0 && open.length > 0) {
      const share = Math.max(1, Math.floor(left / open.length));
      for (const i of open) {
        const give = Math.min(share, (sizes[i] as number) - (quotas[i] as number), left);
        quotas[i] = (quotas[i] as number) + give;
        left -= give;
        if (left === 0) break;
      }
      open = open.filter((i) => (quotas[i] as number) < (sizes[i] as number));
    }
  }
  return quotas.map((q, i) => {
    const size = sizes[i] as number;
    return Array.from({ length: q }, (_, j) => Math.floor(((j + 0.5) * size) / q));
  });
}
