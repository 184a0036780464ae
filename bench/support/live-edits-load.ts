// Starting live editing's server and load generators: this server as the live-edits, peers and
// ceiling scenarios run it; bench/load/live-edits.ts (this server's SDK), as the live-edits, cluster,
// peers and ceiling scenarios configure it, and bench/load/peer-edits.ts (the peers' clients), with
// the settings of the peers scenarios.
import { startBenchServer, startCoordinatedChild, type BenchServer, type CoordinatedChild } from './children.ts';
import type { LiveEditsReady, LiveEditsResult } from './live-edits-result.ts';

/** What every scenario sets of either load generator's pace: its editors' rate, its phases, its set-up. */
export type EditPace = {
  editsPerSecondPerEditor: number;
  warmupMs: number;
  durationMs: number;
  /** After the window, at most this long for the window's edits to be acked and seen by every peer. */
  drainMs: number;
  /** Sessions (documents) each load process sets up at once. */
  setupConcurrency: number;
  syncTimeoutMs: number;
};

/** What the scenarios set of this server's load (bench/load/live-edits.ts). */
export type LiveLoadSettings = EditPace & {
  sessions: number;
  /** By default on one server, each editor also observing the others; see `layouts` below. */
  editorsPerSession: number;
  /** The server's per-connection edit limit (its default, set explicitly). */
  socketUpdatesPerSecond: number;
  /** Closed loop instead (the ceiling scenario): each editor edits again once its edits were acknowledged. */
  closedLoop?: boolean;
};

/** Which sessions one load process drives, where, and (with `layouts`) who connects where. */
export type LoadPart = {
  processIndex: number;
  baseUrl: string;
  tenantPrefix: string;
  sessionFrom: number;
  sessionTo: number;
  /** Per session of the part: its editors' and its observers' URLs (instead of `editorsPerSession` on baseUrl). */
  layouts?: { editorUrls: string[]; observerUrls: string[] }[];
};

/** What the peers scenarios set of the peers' load (bench/load/peer-edits.ts): documents, not sessions. */
export type PeerLoadSettings = EditPace & {
  docs: number;
  editorsPerDoc: number;
  observersPerDoc: number;
};

/** The peers scenarios' settings (peers on one node, peers-cluster on several): the load, this server's per-connection edit limit, the runs. */
export type PeersSettings = PeerLoadSettings & { runs: number; socketUpdatesPerSecond: number };
export const PEERS_FULL: PeersSettings = {
  docs: 200,
  editorsPerDoc: 5,
  observersPerDoc: 3,
  editsPerSecondPerEditor: 2,
  warmupMs: 5_000,
  durationMs: 60_000,
  drainMs: 15_000,
  runs: 3,
  setupConcurrency: 10,
  syncTimeoutMs: 30_000,
  socketUpdatesPerSecond: 60,
};
export const PEERS_QUICK: PeersSettings = { ...PEERS_FULL, docs: 20, warmupMs: 1_000, durationMs: 4_000, drainMs: 10_000, runs: 1 };

/** Starts a load generator: `config`, then its pace; killed when it runs well past its phases. */
function startEditsLoad(script: string, config: Record<string, unknown>, pace: EditPace, env: Record<string, string>): CoordinatedChild<LiveEditsReady, LiveEditsResult> {
  return startCoordinatedChild<LiveEditsReady, LiveEditsResult>(
    script,
    {
      ...config,
      editsPerSecond: pace.editsPerSecondPerEditor,
      warmupMs: pace.warmupMs,
      durationMs: pace.durationMs,
      drainMs: pace.drainMs,
      setupConcurrency: pace.setupConcurrency,
      syncTimeoutMs: pace.syncTimeoutMs,
    },
    env,
    pace.syncTimeoutMs * 4 + pace.warmupMs + pace.durationMs + pace.drainMs + 120_000,
  );
}

/**
 * Starts the peers' load process (their own unmodified clients) against `target`: every client on
 * `where.url`, or document d's editors and observers on `where.layouts[d]`.
 */
export function startPeerEditsLoad(
  settings: PeerLoadSettings,
  target: string,
  docPrefix: string,
  where: { url: string } | { layouts: { editorUrls: string[]; observerUrls: string[] }[] },
): CoordinatedChild<LiveEditsReady, LiveEditsResult> {
  return startEditsLoad(
    'bench/load/peer-edits.ts',
    {
      processIndex: 0,
      target,
      ...where,
      docPrefix,
      docFrom: 0,
      docTo: settings.docs,
      editorsPerDoc: settings.editorsPerDoc,
      observersPerDoc: settings.observersPerDoc,
    },
    settings,
    {},
  );
}

/**
 * Starts one server process for live editing: `LOG_LEVEL=warn`, `secret` as its JWT_SECRET, its data
 * in `dataDir`, the per-connection edit limit set explicitly, on `databaseUrl` (none: SQLite in dataDir).
 */
export function startLiveEditsServer(secret: string, dataDir: string, socketUpdatesPerSecond: number, databaseUrl: string | undefined): Promise<BenchServer> {
  return startBenchServer({
    LOG_LEVEL: 'warn',
    JWT_SECRET: secret,
    DATA_DIR: dataDir,
    SOCKET_UPDATES_PER_SECOND: String(socketUpdatesPerSecond),
    ...(databaseUrl !== undefined ? { DATABASE_URL: databaseUrl } : {}),
  });
}

/** Starts one load process; `secret` signs its tokens (the servers' JWT_SECRET). */
export function startLiveEditsLoad(settings: LiveLoadSettings, part: LoadPart, secret: string): CoordinatedChild<LiveEditsReady, LiveEditsResult> {
  return startEditsLoad(
    'bench/load/live-edits.ts',
    {
      ...part,
      ...(part.layouts === undefined ? { editorsPerSession: settings.editorsPerSession } : {}),
      ...(settings.closedLoop === true ? { closedLoop: true } : {}),
    },
    settings,
    { BENCH_JWT_SECRET: secret },
  );
}
