// What a live-edits load generator hands the harness (over IPC, so the samples stay typed arrays).

/** When something happened: before `go`, in the warm-up, in the measured window, or after it (drain). */
export type Phase = 'setup' | 'warmup' | 'window' | 'after';
export const PHASES: readonly Phase[] = ['setup', 'warmup', 'window', 'after'];

export type LiveEditsReady = {
  sessions: number;
  /** Participants that edit (by default every one, each also observing the others). */
  editors: number;
  /** Participants that only observe (with per-session layouts). */
  observers: number;
  /** The ids of sessions sessionFrom, sessionFrom + 1, ... of the load process, in that order. */
  sessionIds: string[];
  setupMs: number;
};

/** Where a sample came from: its session's index (as configured) and, within that session, the participant's. */
export type SampleOrigins = { session: Uint32Array; participant: Uint16Array };


export type LiveEditsResult = {
  processIndex: number;
  sessions: number;
  editors: number;
  observers: number;
  sessionIds: string[];
  setupMs: number;
  windowSeconds: number;
  /** Edits made, by the phase they were made in. */
  sent: Record<Phase, number>;
  /** Edits whose acknowledgement (committed) arrived inside the window, whenever they were made. */
  ackedInWindow: number;
  /** Acknowledged update frames received inside the window; the SDK merges queued edits into one frame. */
  ackedFramesInWindow: number;
  /** The fate of the edits made inside the window (the ones measured), once drained. */
  windowEdits: {
    sent: number;
    acked: number;
    /** Followed by a `saved` of their editor before the drain ended. */
    saved: number;
    refused: number;
    /** Neither acknowledged nor refused when the drain ended. */
    unacked: number;
    /** Seen by every other observer of the session (by default: every other editor). */
    deliveredToAll: number;
    /** (edit, peer) pairs that never arrived. */
    missingDeliveries: number;
    /**
     * (edit, peer) pairs that arrived in one update with a later edit of the same editor (the SDK
     * merges what is queued while an edit is in flight): the later value is what the peer sees.
     */
    mergedDeliveries: number;
    /** Made while an earlier edit of the same editor was unacknowledged: its ack waits for that one. */
    queuedBehindUnacked: number;
  };
  /** Latency samples in ms of the window's edits. */
  samples: {
    /** Local edit → acknowledgement of the update frame that carried it (one per acknowledged edit). */
    ackMs: Float64Array;
    /** Local edit → the next `saved` of its editor, i.e. until nothing of that editor is pending. */
    savedMs: Float64Array;
    /** Local edit → the change observed on one peer (one per edit and peer). */
    peerMs: Float64Array;
    /** Local edit → observed by the last of the session's other editors (one per edit). */
    allPeersMs: Float64Array;
  };
  /**
   * The origin of each sample above, index for index: the observer for peerMs, the editor (sender)
   * for the others.
   */
  origins: Record<keyof LiveEditsResult['samples'], SampleOrigins>;
  /** Failures and refusals by phase and kind; never dropped. */
  errors: Record<Phase, Record<string, number>>;
  errorSamples: string[];
  /** Whether this process kept up: its CPU, its event-loop delay and how late edits left. */
  loadGenerator: {
    cpuSeconds: number;
    eventLoopDelayMs: { p50: number; p99: number; max: number };
    /** Edit made minus edit scheduled (window only). */
    scheduleLagMs: { p50: number; p99: number; max: number };
  };
  /** How long after the window the process waited for acks and deliveries, and whether it gave up. */
  drainMs: number;
  drainTimedOut: boolean;
};
