// Fewer system calls per Socket.IO message. Socket.IO sends a binary event (every `sync` frame of
// this server) as two engine.io packets, the event with a placeholder and then the attachment, and
// engine.io hands each packet to the WebSocket transport alone: the first at once, the second only
// after the first one's write completed; ws then writes each frame with a system call of its own. In
// the `peers` benchmark those writes were the largest single cost of the main thread (CPU profile,
// bench/README.md). Per connection, `batchFrames` hands all packets of one message to the transport
// together, and the transport writes all it is handed with one system call (TCP cork around its send).
//
// It reaches into engine.io and ws internals (Client#writeToEngine, Socket#flush, Transport#writable
// and #send, the TCP socket of ws): the versions are pinned by the lockfile, and
// test/frame-batching.test.ts fails if an upgrade changes what this relies on.

type TcpSocket = { cork(): void; uncork(): void };
type Transport = { name: string; writable: boolean; send(packets: unknown[]): void; socket?: { _socket?: TcpSocket } };
type EngineSocket = { transport: Transport; flush(): void };
type ClientInternals = { conn: EngineSocket; writeToEngine(packets: unknown, options: { volatile?: boolean } | undefined): void };

const batched = new WeakSet<object>();

/** Makes the Socket.IO client (`socket.client`) of a WebSocket connection write each message in one system call. */
export function batchFrames(client: object): void {
  if (batched.has(client)) return;
  batched.add(client);
  const internals = client as ClientInternals;
  const { conn } = internals;
  const transport = conn.transport;
  const tcp = transport.name === 'websocket' ? transport.socket?._socket : undefined;
  if (tcp === undefined || typeof internals.writeToEngine !== 'function' || typeof conn.flush !== 'function') return;

  const send = transport.send.bind(transport);
  transport.send = (packets) => {
    tcp.cork();
    try {
      send(packets);
    } finally {
      tcp.uncork();
    }
  };

  const writeToEngine = internals.writeToEngine.bind(client);
  internals.writeToEngine = (packets, options) => {
    // A volatile message is dropped when the transport is not writable: leave those alone.
    if (!Array.isArray(packets) || packets.length < 2 || options?.volatile || !transport.writable) {
      writeToEngine(packets, options);
      return;
    }
    // Not writable while the packets are queued, so engine.io keeps them; then one flush sends all.
    transport.writable = false;
    try {
      writeToEngine(packets, options);
    } finally {
      transport.writable = true;
    }
    conn.flush();
  };
}
