// Starting live editing's server and load generators: this server as the live-edits, peers and
// ceiling scenarios run it; bench/load/live-edits.ts (this server's SDK), as the live-edits, cluster,
// peers and ceiling scenarios configure it, and bench/load/peer-edits.ts (the peers' clients).
import { startBenchServer, startCoordinatedChild, type BenchServer, type CoordinatedChild } from './children.ts';
import type { LiveEditsReady, LiveEditsResult } from './live-edits-result.ts';

/** What both scenarios set of the load. */
export type LiveLoadSettings = {
  sessions: number;
  /** By default on one server, each editor also observing the others; see `layouts` below. */
  editorsPerSession: number;
  editsPerSecondPerEditor: number;
  warmupMs: number;
  durationMs: number;
  /** After the window, at most this long for the window's edits to be acked and seen by every peer. */
  drainMs: number;
  /** Sessions each load process sets up at once. */
  setupConcurrency: number;
  syncTimeoutMs: number;
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
export type PeerLoadSettings = {
  docs: number;
  editorsPerDoc: number;
  observersPerDoc: number;
  editsPerSecondPerEditor: number;
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  setupConcurrency: number;
  syncTimeoutMs: number;
};

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
  return startCoordinatedChild<LiveEditsReady, LiveEditsResult>(
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
      editsPerSecond: settings.editsPerSecondPerEditor,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      drainMs: settings.drainMs,
      setupConcurrency: settings.setupConcurrency,
      syncTimeoutMs: settings.syncTimeoutMs,
    },
    {},
    settings.syncTimeoutMs * 4 + settings.warmupMs + settings.durationMs + settings.drainMs + 120_000,
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
  return startCoordinatedChild<LiveEditsReady, LiveEditsResult>(
    'bench/load/live-edits.ts',
    {
      ...part,
      ...(part.layouts === undefined ? { editorsPerSession: settings.editorsPerSession } : {}),
      editsPerSecond: settings.editsPerSecondPerEditor,
      ...(settings.closedLoop === true ? { closedLoop: true } : {}),
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
      drainMs: settings.drainMs,
      setupConcurrency: settings.setupConcurrency,
      syncTimeoutMs: settings.syncTimeoutMs,
    },
    { BENCH_JWT_SECRET: secret },
    settings.syncTimeoutMs * 4 + settings.warmupMs + settings.durationMs + settings.drainMs + 120_000,
  );
}
