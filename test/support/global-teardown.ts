// Jest global teardown: stops what the global setup started (reused services keep running).
import type { Services } from '../../scripts/services/index.ts';

export default async function globalTeardown(): Promise<void> {
  const holder = globalThis as { testServices?: Services };
  await holder.testServices?.stop();
  holder.testServices = undefined;
}
