// Where actors live. Callers ask the placement where an actor key is served: on this node (with the
// fencing epoch this node activates it under) or on another node (which the caller forwards to).
// The session store writes the epoch to the session row on activation and checks it on every commit
// (DESIGN.md invariant 2), so an activation under an older epoch can never write. Two
// implementations: LocalPlacement (embedded, everything here) and RedisPlacement (actors/cluster).

export type Location = { kind: 'local'; epoch: number } | { kind: 'remote'; nodeId: string; url: string };

/**
 * This node does not serve the key right now (moving, fenced, or owned elsewhere): locate again.
 * `retryInMs`: the answer changes by then at the latest (a dead owner's lease expires).
 */
export class NotOwner extends Error {
  readonly retryInMs: number | undefined;

  constructor(message: string, retryInMs?: number) {
    super(message);
    this.name = 'NotOwner';
    this.retryInMs = retryInMs;
  }
}

/**
 * The owner's address refused the connection: nothing listens there, its process is gone. The
 * caller tells the placement (`unreachable`) and locates again.
 */
export class OwnerGone extends NotOwner {
  readonly nodeId: string;

  constructor(nodeId: string, message: string) {
    super(message);
    this.name = 'OwnerGone';
    this.nodeId = nodeId;
  }
}

/** Shards (sets of keys) this node gives up: flush their actors first (handoff) or drop them (fenced). */
export type Release = { covers(key: string): boolean; flush: boolean };

export interface Placement {
  /** Where `key` is served now; may take the key's shard if it is free and this node should own it. */
  locate(key: string): Promise<Location>;
  /** The epoch this node activates `key` under; throws NotOwner if it does not serve it. */
  epochFor(key: string): Promise<number>;
  /** Whether this node may still commit for `key` under `epoch` (checked before every commit). */
  holds(key: string, epoch: number): boolean;
  /** Whether this node serves `key` now (sweepers and schedulers act only on their own keys). */
  serves(key: string): boolean;
  /** The database holds `key` under a newer epoch than this node's: its claim on the shard is stale. */
  superseded(key: string, seenEpoch: number): void;
  /** Runs `listener` whenever this node gives shards up; the release waits for it. */
  onRelease(listener: (release: Release) => Promise<void>): void;
  /** Forget a cached remote location of `key` (its node did not answer as the owner). */
  forget(key: string): void;
  /**
   * `nodeId`'s address refused a connection (OwnerGone): stop choosing it as the target owner of
   * free shards until it heartbeats again as a new process. Its leases still run out on their own.
   */
  unreachable(nodeId: string): void;
}

/**
 * Embedded mode: every actor lives in this process. The epoch is this process's incarnation, one
 * above any epoch already written, so a restarted server fences out anything a previous run left.
 */
export class LocalPlacement implements Placement {
  readonly #incarnation: number;

  constructor(incarnation: number) {
    this.#incarnation = incarnation;
  }

  async locate(): Promise<Location> {
    return { kind: 'local', epoch: this.#incarnation };
  }

  async epochFor(): Promise<number> {
    return this.#incarnation;
  }

  holds(): boolean {
    return true;
  }

  serves(): boolean {
    return true;
  }

  // One process owns everything; a newer incarnation on the same database fences this one out by
  // the row epoch alone, and the dropped activation cannot come back under this incarnation.
  superseded(): void {}

  onRelease(): void {}

  forget(): void {}

  unreachable(): void {}
}
