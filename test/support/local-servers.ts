// Throwaway local servers for provider tests (one that never answers, one that fails with a 5xx):
// `localServers()` registers their cleanup and returns `listen`, which starts one on a free port.
import type http from 'node:http';
import type net from 'node:net';
import { afterAll } from '@jest/globals';

export function localServers(): (server: net.Server | http.Server) => Promise<string> {
  const servers: (net.Server | http.Server)[] = [];
  const sockets = new Set<net.Socket>();
  afterAll(async () => {
    // Connections kept alive (or left hanging on purpose) would hold close() forever.
    sockets.forEach((socket) => socket.destroy());
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });
  return async (server) => {
    servers.push(server);
    server.on('connection', (socket: net.Socket) => sockets.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  };
}
