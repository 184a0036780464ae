// Pure placement arithmetic, the same on every node: which virtual shard a key falls in, and which
// live node should own a shard (rendezvous hashing: when a node joins or leaves, only the shards it
// wins or held move, and every node computes the same answer from the same membership list).
import crypto from 'node:crypto';

/** A stable 48-bit hash (the first six bytes of SHA-1): identical on every node and every run. */
function hash48(text: string): number {
  return crypto.createHash('sha1').update(text).digest().readUIntBE(0, 6);
}

/** The virtual shard of an actor key (a session id, or `tenant:integration`). */
export function shardOf(key: string, shardCount: number): number {
  return hash48(key) % shardCount;
}

/** The node that should own `shard` among `nodeIds` (highest random weight); undefined if none. */
export function rendezvousOwner(shard: number, nodeIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const nodeId of nodeIds) {
    const score = hash48(`${nodeId}/${shard}`);
    // Ties (astronomically rare) break by id, so every node still agrees.
    if (score > bestScore || (score === bestScore && best !== undefined && nodeId < best)) {
      best = nodeId;
      bestScore = score;
    }
  }
  return best;
}

/** Target owner of every shard for one membership list. */
export function targetOwners(shardCount: number, nodeIds: readonly string[]): (string | undefined)[] {
  return Array.from({ length: shardCount }, (_, shard) => rendezvousOwner(shard, nodeIds));
}
