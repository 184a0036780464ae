// The reference y-websocket server (unmodified @y/websocket-server 0.1.0, its `setupWSConnection`
// exactly as its own bin/server.js wires it) as the peer of the benchmark comparison (issue 7).
// Run from the repository root as
//   node bench/peers/y-websocket.ts <port>
// Resolves its packages from bench/peers/node_modules. Prints `ready <port>` once it listens.
//
// What it guarantees: nothing durable. Edits are applied to the in-memory Y.Doc and broadcast at
// once; documents live in memory only, unless YPERSISTENCE=<dir> is set in the environment (then
// @y/websocket-server stores every update in LevelDB, which needs the optional leveldown build that
// bench/peers does not install). Not used by the benchmark.
import http from 'node:http';
import { setupWSConnection } from '@y/websocket-server/utils';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/peers/y-websocket.ts <port>');
  process.exit(2);
}

const wss = new WebSocketServer({ noServer: true });
const server = http.createServer((_request, response) => {
  response.writeHead(200, { 'Content-Type': 'text/plain' });
  response.end('okay');
});
wss.on('connection', setupWSConnection);
server.on('upgrade', (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`));
