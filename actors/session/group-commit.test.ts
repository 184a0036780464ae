import { describe, expect, it } from '@jest/globals';
import { GroupCommitter } from './group-commit.ts';

describe('group commit', () => {
  it('commits what arrived together in one batch, and later arrivals in the next', async () => {
    const batches: number[][] = [];
    let nextId = 0;
    const committer = new GroupCommitter<number, number>(async (items) => {
      batches.push(items);
      await new Promise((resolve) => setTimeout(resolve, 10));
      return items.map(() => ++nextId);
    });
    const first = [1, 2, 3].map((n) => committer.append(n));
    await new Promise((resolve) => setTimeout(resolve, 2)); // the first batch is in flight
    const second = [4, 5].map((n) => committer.append(n));
    expect(await Promise.all([...first, ...second])).toEqual([1, 2, 3, 4, 5]);
    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  it('tells nobody before the commit returns', async () => {
    let release: () => void = () => {};
    const committer = new GroupCommitter<string, string>((items) => new Promise((resolve) => (release = () => resolve(items))));
    let acknowledged = false;
    const ack = committer.append('edit').then(() => (acknowledged = true));
    let synced = false;
    const sync = committer.sync().then(() => (synced = true));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect({ acknowledged, synced }).toEqual({ acknowledged: false, synced: false });
    release();
    await Promise.all([ack, sync]);
    expect({ acknowledged, synced }).toEqual({ acknowledged: true, synced: true });
  });

  it('fails the batch, everything queued and everything after a failed commit', async () => {
    const committer = new GroupCommitter<number, number>(async () => {
      throw new Error('stale epoch');
    });
    await expect(committer.append(1)).rejects.toThrow('stale epoch');
    await expect(committer.append(2)).rejects.toThrow('stale epoch');
    await expect(committer.sync()).rejects.toThrow('stale epoch');
    expect(committer.failure).toBeInstanceOf(Error);
  });

  it('can fail only the failed batch, and take at most maxBatch items per commit', async () => {
    const batches: number[][] = [];
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        batches.push(items);
        if (items.includes(2)) throw new Error('the database went away');
        return items;
      },
      { stopAfterFailure: false, maxBatch: 2 },
    );
    const results = await Promise.allSettled([1, 2, 3, 4, 5].map((n) => committer.append(n)));
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(committer.failure).toBeUndefined();
    expect(await committer.append(6)).toBe(6);
  });

  it('starts again for an item appended by a caller its last batch woke', async () => {
    const committer = new GroupCommitter<number, number>(async (items) => items);
    const chained = committer.append(1).then(() => committer.append(2));
    expect(await chained).toBe(2);
  });
});
