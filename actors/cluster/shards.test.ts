import { describe, expect, test } from '@jest/globals';
import { rendezvousOwner, shardOf, targetOwners } from './shards.ts';

describe('virtual shards', () => {
  test('a key always falls in the same shard, and keys spread over all shards', () => {
    expect(shardOf('8d2c7f0e-1c1b-4a57-9a53-0c2f1f3e9b10', 64)).toBe(shardOf('8d2c7f0e-1c1b-4a57-9a53-0c2f1f3e9b10', 64));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i += 1) counts[shardOf(`session-${i}`, 16)]! += 1;
    // 1,000 expected per shard; a fair hash stays well within ±20 %.
    for (const count of counts) expect(Math.abs(count - 1_000)).toBeLessThan(200);
  });
});

describe('rendezvous hashing', () => {
  const nodes = ['n1', 'n2', 'n3'];

  test('every node computes the same owner, whatever the order of the membership list', () => {
    for (let shard = 0; shard < 64; shard += 1) {
      expect(rendezvousOwner(shard, nodes)).toBe(rendezvousOwner(shard, [...nodes].reverse()));
    }
    expect(rendezvousOwner(0, [])).toBeUndefined();
  });

  test('a joining node takes only the shards it wins; the others stay where they were', () => {
    const before = targetOwners(256, nodes);
    const after = targetOwners(256, [...nodes, 'n4']);
    const moved = after.filter((owner, shard) => owner !== before[shard]);
    expect(moved.every((owner) => owner === 'n4')).toBe(true);
    // About a quarter of the shards move to the fourth node.
    expect(moved.length).toBeGreaterThan(256 * 0.15);
    expect(moved.length).toBeLessThan(256 * 0.35);
  });

  test('a leaving node hands its shards to the others; no other shard moves', () => {
    const before = targetOwners(256, nodes);
    const after = targetOwners(256, ['n1', 'n3']);
    before.forEach((owner, shard) => {
      if (owner !== 'n2') expect(after[shard]).toBe(owner);
      else expect(after[shard]).not.toBe('n2');
    });
  });
});
