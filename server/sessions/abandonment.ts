// Marks sessions abandoned after SESSION_ABANDON_AFTER_MS without activity. The decision is taken
// by each session's actor (which re-checks its own last activity), so a session edited while the
// sweep runs is left alone.
import type { SessionStore } from '../../actors/session/session-store.ts';
import type { Logger } from '../logger.ts';
import type { SessionService } from './session-service.ts';

export function startAbandonmentSweeper(options: {
  store: SessionStore;
  sessions: SessionService;
  abandonAfterMs: number;
  log: Logger;
  /** Cluster mode: only sessions this node serves (each session is swept by its owner alone). */
  serves?: (sessionId: string) => boolean;
}): { sweep(): Promise<number>; stop(): Promise<void> } {
  let running: Promise<number> | undefined;
  const sweep = () =>
    (running ??= (async () => {
      const cutoff = new Date(Date.now() - options.abandonAfterMs);
      let abandoned = 0;
      try {
        for (const session of await options.store.inactiveSince(cutoff)) {
          if (options.serves && !options.serves(session.id)) continue;
          await options.sessions.abandonIfInactive(session, cutoff);
          abandoned += 1;
        }
      } catch (error) {
        options.log.warn({ err: error }, 'abandonment sweep failed; retrying at the next interval');
      } finally {
        running = undefined;
      }
      return abandoned;
    })());
  // Often enough to be timely, rarely enough to cost nothing: a tenth of the period, 1 s to 1 min.
  const timer = setInterval(() => void sweep(), Math.min(60_000, Math.max(1_000, options.abandonAfterMs / 10)));
  timer.unref();
  return {
    sweep,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
