// Starting the live-edits load generator (bench/load/live-edits.ts), as the live-edits and cluster
// scenarios configure it.
import { startCoordinatedChild, type CoordinatedChild } from './children.ts';
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

/** Starts one load process; `secret` signs its tokens (the servers' JWT_SECRET). */
export function startLiveEditsLoad(settings: LiveLoadSettings, part: LoadPart, secret: string): CoordinatedChild<LiveEditsReady, LiveEditsResult> {
  return startCoordinatedChild<LiveEditsReady, LiveEditsResult>(
    'bench/load/live-edits.ts',
    {
      ...part,
      ...(part.layouts === undefined ? { editorsPerSession: settings.editorsPerSession } : {}),
      editsPerSecond: settings.editsPerSecondPerEditor,
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
