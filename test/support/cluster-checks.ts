// The cluster tests' assertions (jest's `expect`) over the harness in cluster.ts, which stays free of
// jest so that the benchmarks can run clusters too.
import { expect } from '@jest/globals';
import * as Y from 'yjs';
import { documentData } from '../../actors/session/document.ts';
import { api, tokenFor } from './api.ts';
import { checkTokens, introduction, settle, waitAcknowledgedAfter, type Cluster, type Editor } from './cluster.ts';

/** Waits until every token the editor typed is settled (acknowledged, or refused). */
async function expectDrained(editor: Editor): Promise<void> {
  const unsettled = await editor.drain();
  const name = editor.describe();
  expect({ editor: name, unsettled }).toEqual({ editor: name, unsettled: 0 });
}

/**
 * Stops the editors of one session and waits until each has every edit settled, then checks, the
 * most fundamental first: every acknowledged token is in the stored document (snapshot + log)
 * exactly once; no editor had an edit refused; every editor, and REST GET on every running node,
 * hold the stored document.
 */
export async function expectConverged(cluster: Cluster, session: { tenant: string; sessionId: string }, editors: readonly Editor[]): Promise<void> {
  editors.forEach((editor) => editor.stopTyping());
  await Promise.all(editors.map(expectDrained));
  expect(checkTokens(introduction(await cluster.storedDocument(session.sessionId)), editors)).toEqual({ missing: [], duplicated: [] });
  expect(editors.flatMap((editor) => editor.refusals.map((refusal) => ({ editor: editor.letter, node: editor.node.id, ...refusal })))).toEqual([]);
  let stored = new Y.Doc();
  // Peers' edits reach an editor after their commit, through the nodes: give them a moment.
  await settle(async () => {
    stored = await cluster.storedDocument(session.sessionId);
    return editors.every((editor) => editor.text() === introduction(stored));
  }, 15_000);
  const data = documentData(stored);
  for (const editor of editors) expect(documentData(editor.provider.doc)).toEqual(data);
  const token = await tokenFor(session.tenant, 'admin', 'reader');
  for (const node of cluster.running()) {
    const { status, body } = await api(node.url, token).get<{ data: unknown }>(`/onboarding/sessions/${session.sessionId}`);
    expect({ node: node.id, status, data: body.data }).toEqual({ node: node.id, status: 200, data });
  }
}

/**
 * Waits until every editor has an edit typed after `since` acknowledged (they must be typing);
 * resolves with the slowest one's delay from `since`.
 */
export async function acknowledgedAfter(editors: readonly Editor[], since: number, timeoutMs = 30_000): Promise<number> {
  const { lagging, slowestMs } = await waitAcknowledgedAfter(editors, since, timeoutMs);
  expect({ withoutAcknowledgementWithin: timeoutMs, editors: lagging }).toEqual({ withoutAcknowledgementWithin: timeoutMs, editors: [] });
  return slowestMs;
}
