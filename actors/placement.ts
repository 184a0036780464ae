// Where actors live. The host asks the placement for the fencing epoch under which this node may
// activate an actor; the session store writes that epoch to the session row on activation and checks
// it on every commit (DESIGN.md invariant 2), so an activation under an older epoch can never write.

export interface Placement {
  /** The epoch this node activates `key` under. */
  epochFor(key: string): Promise<number>;
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

  async epochFor(): Promise<number> {
    return this.#incarnation;
  }
}
