// Who checks which integration: every few seconds each node lists the integrations that are checked
// on a schedule and wakes the actors of those whose key it serves. An activated actor schedules its
// own checks (from the last check anyone made, which the row keeps), so after a node dies the new
// owner of its shards picks their integrations up within a scan — without checking twice, since
// ownership comes from the shard leases, and without losing one, since every live key is scanned.
import type { Logger } from '../logger.ts';
import type { IntegrationService } from './integration-service.ts';
import type { IntegrationStore } from '../../actors/integration/integration-store.ts';

/** Wakes this many actors at a time (each activation claims its row in the database). */
const WAKE_CONCURRENCY = 16;

export function startHealthScheduler(options: {
  store: IntegrationStore;
  integrations: IntegrationService;
  scanEveryMs: number;
  log: Logger;
}): { scan(): Promise<number>; stop(): Promise<void> } {
  let running: Promise<number> | undefined;
  let stopped = false;
  const scan = () =>
    (running ??= (async () => {
      let woken = 0;
      try {
        const due = (await options.store.scheduled()).filter(
          ({ tenantId, kind }) => options.integrations.serves(tenantId, kind) && !options.integrations.isActive(tenantId, kind),
        );
        for (let index = 0; index < due.length && !stopped; index += WAKE_CONCURRENCY) {
          const batch = due.slice(index, index + WAKE_CONCURRENCY);
          const results = await Promise.allSettled(batch.map(({ tenantId, kind }) => options.integrations.wake(tenantId, kind)));
          woken += results.filter((result) => result.status === 'fulfilled').length;
        }
      } catch (error) {
        options.log.warn({ err: error }, 'health schedule scan failed; retrying at the next scan');
      } finally {
        running = undefined;
      }
      return woken;
    })());
  const timer = setInterval(() => void scan(), options.scanEveryMs);
  timer.unref();
  void scan();
  return {
    scan,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
