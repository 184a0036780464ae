// Load generator of the cluster scenario's failover part, run in its own process (never in a
// server's): one editor per cluster node on one session (the test harness's `Editor`, i.e. the SDK's
// SessionProvider typing short unique tokens into a collaborative Y.Text). After `go` every editor
// types a token every `typingIntervalMs`, whatever happens to the nodes. The harness, which kills
// and restarts the nodes, asks in between whether the editors on given nodes have an edit typed
// since a given time acknowledged (`acked-after`). On `finish` they stop, wait for every edit to be
// settled and for their documents to agree, and the process hands the harness every token with
// when it was typed and acknowledged, for the exactly-once check against the stored document.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Editor, settle, waitAcknowledgedAfter, type NodeAddress } from '../../test/support/cluster.ts';
import type { AckedAfterReply, ClusterEditorsRequest, ClusterEditorsResult } from '../support/cluster-editors-result.ts';
import { answerRequests, readyThenWaitForGo, sendResult } from '../support/ipc.ts';
import { readConfig } from '../support/load-report.ts';

const configSchema = z.strictObject({
  nodes: z.array(z.strictObject({ id: z.string(), url: z.url() })).min(2),
  session: z.strictObject({ tenant: z.string(), sessionId: z.string() }),
  typingIntervalMs: z.int().positive(),
  /** On `finish`: at most this long for every edit to be settled, and again for the documents to agree. */
  drainMs: z.int().positive(),
});

const config = readConfig((value) => configSchema.parse(value));
const log = (message: string) => console.error(`[cluster editors] ${message}`);
const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

const editors: Editor<NodeAddress>[] = [];
try {
  for (const [i, node] of config.nodes.entries()) editors.push(await Editor.connect(node, config.session, LETTERS[i]!));
} catch (error) {
  editors.forEach((editor) => editor.close());
  throw error;
}
log(`${editors.map((editor) => editor.describe()).join(', ')}: synced`);

let finish: () => void = () => {};
const finished = new Promise<void>((resolve) => (finish = resolve));
answerRequests<ClusterEditorsRequest, AckedAfterReply | null>(async (request) => {
  if (request.kind === 'finish') {
    finish();
    return null;
  }
  const asked = editors.filter((editor) => request.nodes.includes(editor.node.id));
  const { slowestMs, lagging } = await waitAcknowledgedAfter(asked, request.sinceEpochMs, request.timeoutMs);
  return {
    slowestMs,
    lagging,
    perEditor: asked.map((editor) => ({ editor: editor.letter, node: editor.node.id, ms: editor.ackDelayAfter(request.sinceEpochMs) ?? null })),
    textLength: editors[0]!.text().length,
  };
});

const go = await readyThenWaitForGo({ editors: editors.length });
await sleep(Math.max(0, go.startAtEpochMs - Date.now()));
editors.forEach((editor) => editor.startTyping(config.typingIntervalMs));

await finished;
editors.forEach((editor) => editor.stopTyping());
const unsettled = await Promise.all(editors.map((editor) => editor.drain(config.drainMs)));
// Peers' edits reach an editor after their commit, through the nodes: give them a moment.
await settle(async () => editors.every((editor) => editor.text() === editors[0]!.text()), config.drainMs);
const result: ClusterEditorsResult = {
  editors: editors.map((editor, i) => ({
    letter: editor.letter,
    node: editor.node.id,
    typed: editor.typed,
    refusals: editor.refusals,
    unsettled: unsettled[i]!,
    text: editor.text(),
  })),
};
editors.forEach((editor) => editor.close());
log(`finished: ${editors.map((editor) => `${editor.letter} typed ${editor.typed.length}`).join(', ')}`);
await sendResult(result);
