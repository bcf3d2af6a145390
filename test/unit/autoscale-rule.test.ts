/** The autoscale rule, one test per branch (src/autoscale/rule.ts). */
import { describe, expect, it } from 'vitest';
import { decideParallel, type RuleInputs } from '../../src/autoscale/rule.js';

const GiB = 1024 ** 3;
const at = (o: Partial<RuleInputs>): RuleInputs => ({
  current: 3,
  min: 1,
  max: 5,
  cpu: 0.5,
  mem: 0.5,
  queued: 4,
  availableBytes: 16 * GiB,
  unitPeakBytes: 1 * GiB,
  thresholds: { cpu_high: 0.8, cpu_low: 0.4, mem_high: 0.8, mem_low: 0.6 },
  ...o,
});

describe('decideParallel', () => {
  it('down by one when CPU is above 80 %', () => {
    expect(decideParallel(at({ cpu: 0.95 }))).toEqual({ next: 2, action: 'down', reason: 'CPU 95% > 80%' });
  });
  it('down by one when memory is above 80 % (CPU low)', () => {
    expect(decideParallel(at({ cpu: 0.1, mem: 0.85 }))).toEqual({ next: 2, action: 'down', reason: 'memory 85% > 80%' });
  });
  it('never below min: holds at min under pressure', () => {
    expect(decideParallel(at({ current: 1, cpu: 2 }))).toMatchObject({ next: 1, action: 'hold', reason: 'CPU 200% > 80%, but already at min 1' });
  });
  it('up by one when CPU is below 40 % and memory below 60 %', () => {
    expect(decideParallel(at({ cpu: 0.2, mem: 0.3 }))).toEqual({ next: 4, action: 'up', reason: 'CPU 20% < 40% and memory 30% < 60%' });
  });
  it('never up when nothing is queued', () => {
    expect(decideParallel(at({ cpu: 0.2, mem: 0.3, queued: 0 }))).toMatchObject({ next: 3, action: 'hold', reason: expect.stringMatching(/but no unit is queued$/) });
  });
  it('never up when free memory is below twice the largest unit', () => {
    expect(decideParallel(at({ cpu: 0.2, mem: 0.3, availableBytes: 1.5 * GiB }))).toMatchObject({ next: 3, action: 'hold', reason: expect.stringMatching(/free memory 1536 MiB is below twice the largest unit's 1024 MiB$/) });
    // No unit measured yet: no memory guard.
    expect(decideParallel(at({ cpu: 0.2, mem: 0.3, availableBytes: 1.5 * GiB, unitPeakBytes: null })).action).toBe('up');
  });
  it('never above max: holds at max with room', () => {
    expect(decideParallel(at({ current: 5, cpu: 0.1, mem: 0.1 }))).toMatchObject({ next: 5, action: 'hold', reason: expect.stringMatching(/but already at max 5$/) });
  });
  it('holds between the thresholds (CPU 40-80 %, or memory 60-80 %)', () => {
    expect(decideParallel(at({ cpu: 0.6, mem: 0.3 }))).toMatchObject({ next: 3, action: 'hold' });
    expect(decideParallel(at({ cpu: 0.2, mem: 0.7 }))).toMatchObject({ next: 3, action: 'hold' });
  });
  it('brings a value outside [min, max] back within it (pueue 0 means unlimited)', () => {
    expect(decideParallel(at({ current: 9 }))).toMatchObject({ next: 5, action: 'down' });
    expect(decideParallel(at({ current: 0 }))).toMatchObject({ next: 5, action: 'down' });
    expect(decideParallel(at({ current: 1, min: 2, cpu: 2 }))).toMatchObject({ next: 2, action: 'up' });
  });
  it('uses the thresholds it is given', () => {
    expect(decideParallel(at({ cpu: 3, thresholds: { cpu_high: 4, cpu_low: 3.5, mem_high: 0.8, mem_low: 0.6 } }))).toMatchObject({ action: 'up' });
  });
});
