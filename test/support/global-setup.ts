// Jest global setup: starts the real services once for the whole run (or reuses those named by
// TEST_* variables). Workers are forked afterwards, so they inherit the variables set here.
import { describeTimings, startServices, type Services } from '../../scripts/services/index.ts';

export default async function globalSetup(): Promise<void> {
  const startedAt = performance.now();
  const services = await startServices();
  Object.assign(process.env, services.env);
  // Setup and teardown run in the same process; this is how the handle reaches the teardown.
  (globalThis as { testServices?: Services }).testServices = services;
  console.error(`\nservices ready in ${((performance.now() - startedAt) / 1000).toFixed(1)}s: ${describeTimings(services.timings)}`);
}
