import { describe, expect, it } from 'vitest';
import { autoMaxThreads, parseMaxThreadsValue, softLimitOf } from '../../src/worker/max-threads.js';

describe('max_threads auto sizing', () => {
  it('uses concurrent_threads_soft_limit_num when set', () => {
    expect(autoMaxThreads({ softLimitNum: 64, softLimitRatio: 2, cores: 8, coresSource: 't' }, 16, 1).maxThreads).toBe(4);
    expect(autoMaxThreads({ softLimitNum: 64, cores: 8, coresSource: 't' }, 8, 2).maxThreads).toBe(4);
  });

  it('else ratio_to_cores x cores, else 2 x cores', () => {
    expect(softLimitOf({ softLimitNum: 0, softLimitRatio: 3, cores: 8, coresSource: 't' }).limit).toBe(24);
    expect(softLimitOf({ softLimitNum: 0, softLimitRatio: 0, cores: 8, coresSource: 't' }).limit).toBe(16);
    expect(softLimitOf({ cores: 2, coresSource: 't' }).limit).toBe(4);
  });

  it('floors, and never goes below 1', () => {
    // 18.16 on 2 cores: 2 x 2 = 4 threads for 16 queries.
    expect(autoMaxThreads({ cores: 2, coresSource: 't' }, 16, 1).maxThreads).toBe(1);
    expect(autoMaxThreads({ cores: 32, coresSource: 't' }, 16, 1).maxThreads).toBe(4);
    expect(autoMaxThreads({ cores: 32, coresSource: 't' }, 5, 1).maxThreads).toBe(12);
    expect(autoMaxThreads({ cores: 32, coresSource: 't' }, 16, 3).maxThreads).toBe(1);
  });

  it('explains itself in one line', () => {
    const e = autoMaxThreads({ cores: 2, coresSource: "server max_threads default '2'" }, 16, 1).explanation;
    expect(e).toContain('max_threads 1');
    expect(e).toContain('2 x 2 cores');
    expect(e).not.toContain('\n');
  });

  it('reads the max_threads setting of old and new servers', () => {
    expect(parseMaxThreadsValue('2')).toBe(2);
    expect(parseMaxThreadsValue('auto(16)')).toBe(16);
    expect(parseMaxThreadsValue("'auto(4)'")).toBe(4);
    expect(parseMaxThreadsValue('auto')).toBeUndefined();
    expect(parseMaxThreadsValue('0')).toBeUndefined();
    expect(parseMaxThreadsValue(undefined)).toBeUndefined();
  });
});
