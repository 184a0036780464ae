import { afterAll, describe, expect, it } from '@jest/globals';
import * as Y from 'yjs';
import { AppError } from '../../shared/errors.ts';
import { UpdateGuard } from './update-guard.ts';

// Budgets far from the measured costs (a small update: well under 1 ms once warm; the heavy one:
// ~200 ms here), so the outcome does not depend on how busy the machine is.
const guard = new UpdateGuard({ timeoutMs: 5_000, maxHeapMb: 64 });
const tightGuard = new UpdateGuard({ timeoutMs: 5, maxHeapMb: 64 });
const batchGuard = new UpdateGuard({ timeoutMs: 50, maxHeapMb: 64 });
afterAll(() => Promise.all([guard.close(), tightGuard.close(), batchGuard.close()]));

const small = () => {
  const doc = new Y.Doc();
  doc.getMap('welcome').set('teamSize', 4);
  return Y.encodeStateAsUpdate(doc);
};

/** A well-formed but heavy update (entries × ~2 µs to decode and apply here: 200,000 ≈ 400 ms). */
const heavy = (entries = 100_000) => {
  const doc = new Y.Doc();
  const map = doc.getMap('m');
  doc.transact(() => {
    for (let i = 0; i < entries; i += 1) map.set(`k${i}`, i);
  });
  return Y.encodeStateAsUpdate(doc);
};

const codeOf = (promise: Promise<void>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof AppError ? `${error.code}: ${error.message}` : String(error)),
  );

describe('the update guard', () => {
  it('accepts a well-formed update and refuses garbage', async () => {
    expect(await codeOf(guard.check(small()))).toBe('accepted');
    expect(await codeOf(guard.check(Uint8Array.of(1, 2, 3, 250)))).toMatch(/^VALIDATION_FAILED: malformed Yjs update/);
  });

  it('refuses an update that takes longer than its budget, and keeps serving after replacing the worker', async () => {
    const update = heavy();
    expect(await codeOf(tightGuard.check(update))).toMatch(/^VALIDATION_FAILED: the update took more than 5 ms/);
    // The overrun worker was terminated; a fresh one answers the next check.
    expect(await codeOf(tightGuard.check(update))).toMatch(/^VALIDATION_FAILED: the update took more than 5 ms/);
    expect(await codeOf(guard.check(update))).toBe('accepted');
  });

  it('refuses only the culprit of a batch that overran, after checking its updates one by one', async () => {
    // Queued together: one message to the worker; 3 × 50 ms budget, far below the heavy one's cost.
    const results = await Promise.all([small(), heavy(200_000), small()].map((u) => codeOf(batchGuard.check(u))));
    expect(results[0]).toBe('accepted');
    expect(results[1]).toMatch(/^VALIDATION_FAILED: the update took more than 50 ms/);
    expect(results[2]).toBe('accepted');
  });

  it('checks queued updates one after the other', async () => {
    const results = await Promise.all([small(), Uint8Array.of(9), small()].map((u) => codeOf(guard.check(u))));
    expect(results.map((r) => r.split(':')[0])).toEqual(['accepted', 'VALIDATION_FAILED', 'accepted']);
  });
});
