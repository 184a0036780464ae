// The provider peer of the integrations scenario, in a process of its own so that its CPU is not
// counted as the server's: the n8n stand-in of the tests (test/support/n8n-standin.ts), answering
// the health checks (`GET /api/v1/workflows?limit=1` with the API key) of every tenant's n8n
// integration. Announces its URL and API key, runs until the harness asks it to stop, then reports
// its CPU time.
import { startN8nStandIn } from '../../test/support/n8n-standin.ts';
import { answerRequests, readyThenWaitForGo, sendResult } from '../support/ipc.ts';
import type { N8nPeerReady, N8nPeerRequest, N8nPeerResult } from '../support/integrations-result.ts';

const standIn = await startN8nStandIn();
const cpuBefore = process.cpuUsage();
let stopped = false;
answerRequests<N8nPeerRequest, { stopped: true }>(async (request) => {
  if (request.type !== 'stop' || stopped) return { stopped: true };
  stopped = true;
  await standIn.close();
  const cpu = process.cpuUsage(cpuBefore);
  // The reply first, then the result (which closes the channel).
  setImmediate(() => void sendResult<N8nPeerResult>({ cpuSeconds: (cpu.user + cpu.system) / 1e6 }));
  return { stopped: true };
});
console.error(`[n8n-peer] stand-in listening on ${standIn.url}`);
await readyThenWaitForGo<N8nPeerReady>({ url: standIn.url, apiKey: standIn.apiKey });
