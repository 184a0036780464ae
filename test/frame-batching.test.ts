// batchFrames (server/realtime/frame-batching.ts) relies on engine.io and ws internals: this checks,
// against a real Socket.IO server and client, that a binary message costs one write on the server's
// TCP socket instead of two, and that nothing is lost, reordered or changed on the way.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Server, type Socket } from 'socket.io';
import { io as connect, type Socket as ClientSocket } from 'socket.io-client';
import { batchFrames } from '../server/realtime/frame-batching.ts';

type Writes = { count: number };

/** Counts the writes that reach the TCP socket under a server-side Socket.IO socket (each one is a system call). */
function countWrites(socket: Socket): Writes {
  const tcp = (socket.conn.transport as unknown as { socket: { _socket: { _write: (...args: unknown[]) => void; _writev: (...args: unknown[]) => void } } })
    .socket._socket;
  const writes = { count: 0 };
  const write = tcp._write.bind(tcp);
  const writev = tcp._writev.bind(tcp);
  tcp._write = (...args) => {
    writes.count += 1;
    write(...args);
  };
  tcp._writev = (...args) => {
    writes.count += 1;
    writev(...args);
  };
  return writes;
}

describe('frame batching', () => {
  let server: http.Server;
  let io: Server;
  let url: string;

  beforeAll(async () => {
    server = http.createServer();
    io = new Server(server, { transports: ['websocket'] });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    io.close();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Connects a client; resolves with both ends once connected. */
  async function pair(batched: boolean): Promise<{ server: Socket; client: ClientSocket }> {
    const serverSide = new Promise<Socket>((resolve) =>
      io.once('connection', (socket) => {
        if (batched) batchFrames(socket.client);
        resolve(socket);
      }),
    );
    const client = connect(url, { transports: ['websocket'], forceNew: true });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    return { server: await serverSide, client };
  }

  /** Emits `count` binary events one after the other, waits for all, returns the writes they took. */
  async function emitBinary(batched: boolean, count: number): Promise<{ writes: number; received: string[] }> {
    const { server: socket, client } = await pair(batched);
    try {
      const received: string[] = [];
      const all = new Promise<void>((resolve) =>
        client.on('sync', (n: number, frame: Uint8Array, id: number) => {
          received.push(`${n}:${Buffer.from(frame).toString('hex')}:${id}`);
          if (received.length === count) resolve();
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 20)); // the connect packets are out
      const writes = countWrites(socket);
      for (let n = 0; n < count; n += 1) {
        socket.emit('sync', n, Uint8Array.of(n, 1, 2, 3), n * 10);
        await new Promise((resolve) => setImmediate(resolve)); // each message on its own, as broadcasts come
      }
      await all;
      return { writes: writes.count, received };
    } finally {
      client.close();
    }
  }

  it('writes a binary message with one system call instead of two, intact and in order', async () => {
    const expected = Array.from({ length: 20 }, (_, n) => `${n}:${Buffer.from([n, 1, 2, 3]).toString('hex')}:${n * 10}`);
    const plain = await emitBinary(false, 20);
    const batched = await emitBinary(true, 20);
    expect(plain.received).toEqual(expected);
    expect(batched.received).toEqual(expected);
    expect(plain.writes).toBe(40); // the premise: without batching, two writes a message
    expect(batched.writes).toBe(20);
  });

  it('keeps text messages, acknowledgements and broadcasts working', async () => {
    const { server: socket, client } = await pair(true);
    try {
      socket.on('ping-me', (value: string, ack: (reply: string) => void) => ack(`pong ${value}`));
      expect(await client.timeout(2_000).emitWithAck('ping-me', 'a')).toBe('pong a');
      await socket.join('room');
      const got = new Promise<unknown[]>((resolve) => client.once('sync', (...args: unknown[]) => resolve(args)));
      io.to('room').emit('sync', 'x', Uint8Array.of(9, 8), 7);
      const [name, frame, id] = await got;
      expect([name, [...new Uint8Array(frame as ArrayBuffer)], id]).toEqual(['x', [9, 8], 7]);
    } finally {
      client.close();
    }
  });
});
