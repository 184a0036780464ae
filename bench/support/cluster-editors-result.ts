// What the harness and the cluster scenario's editors process (bench/load/cluster-editors.ts) say to each other.

export type ClusterEditorsRequest = { kind: 'acked-after'; sinceEpochMs: number; nodes: string[]; timeoutMs: number } | { kind: 'finish' };

export type AckedAfterReply = {
  /** The slowest of the editors asked about, from `sinceEpochMs` to its first acknowledged edit typed after it; NaN if one has none. */
  slowestMs: number;
  perEditor: { editor: string; node: string; ms: number | null }[];
  /** The editors (`A on n1`, with their refusals) with no such edit within the timeout. */
  lagging: string[];
  /** Of the first editor's document: the introduction must stay under its 10,000 characters. */
  textLength: number;
};

export type ClusterEditorsResult = {
  editors: {
    letter: string;
    node: string;
    typed: { token: string; typedAt: number; ackedAt?: number; refused?: true }[];
    refusals: { code: string; message: string }[];
    /** Typed edits neither acknowledged nor refused when the drain ended. */
    unsettled: number;
    text: string;
  }[];
};
