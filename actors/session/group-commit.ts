// Group commit: items appended while a commit is in flight are committed together by the next one,
// so a burst of edits costs one transaction, not one each. Nobody learns that an item happened
// before the commit that holds it has returned. Used twice: per session (its edits, in order, one
// commit in flight), and per node (the sessions' commits, batched into one transaction).

export type GroupCommitOptions = {
  /**
   * After a failed commit, refuse everything (a session: its owner must reload from the database),
   * or only the failed batch (the node's batcher: each session decides for itself). Default true.
   */
  stopAfterFailure?: boolean;
  /** Most items in one commit (default: no limit). */
  maxBatch?: number;
};

export class GroupCommitter<Item, Result> {
  readonly #commit: (items: Item[]) => Promise<Result[]>;
  #pending: { item: Item; resolve: (result: Result) => void; reject: (error: unknown) => void }[] = [];
  #running: Promise<void> | undefined;
  #failure: unknown;
  readonly #stopAfterFailure: boolean;
  readonly #maxBatch: number;

  /** `commit` must persist every item atomically and return one result per item, in order. */
  constructor(commit: (items: Item[]) => Promise<Result[]>, options: GroupCommitOptions = {}) {
    this.#commit = commit;
    this.#stopAfterFailure = options.stopAfterFailure ?? true;
    this.#maxBatch = options.maxBatch ?? Number.POSITIVE_INFINITY;
  }

  /** Set once a commit failed, when failures stop the committer: nothing more is accepted. */
  get failure(): unknown {
    return this.#failure;
  }

  append(item: Item): Promise<Result> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const result = new Promise<Result>((resolve, reject) => this.#pending.push({ item, resolve, reject }));
    // setImmediate, not a microtask: lets everything that arrived in this I/O turn join the batch.
    this.#running ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#drain());
    return result;
  }

  /** Resolves when everything appended so far is committed; rejects if a commit failed. */
  async sync(): Promise<void> {
    await this.#running;
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending.splice(0, this.#maxBatch);
      try {
        const results = await this.#commit(batch.map((entry) => entry.item));
        batch.forEach((entry, index) => entry.resolve(results[index] as Result));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
        if (this.#stopAfterFailure) {
          this.#failure = error;
          for (const entry of this.#pending.splice(0)) entry.reject(error);
        }
      }
    }
    this.#running = undefined;
  }
}
