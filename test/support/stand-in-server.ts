// What every stand-in HTTP server needs: listen on a free loopback port, and a close() that does not
// wait for keep-alive or deliberately hanging connections (they are destroyed first), nor for
// delayed answers (their timers are cleared).
import type http from 'node:http';
import type net from 'node:net';

export type Listening = {
  url: string;
  /** Delays an answer (a fault); close() cancels it. */
  later(run: () => void, delayMs: number): void;
  /** Answers `body` as JSON, after `delayMs` when set (the slow-provider fault). */
  json(res: http.ServerResponse, status: number, body: unknown, delayMs?: number, contentType?: string): void;
  close(): Promise<void>;
};

export async function listenOnFreePort(server: http.Server): Promise<Listening> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const later: Listening['later'] = (run, delayMs) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, delayMs);
    // A delayed answer must not keep the test process alive on its own.
    timer.unref();
    timers.add(timer);
  };
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    later,
    json: (res, status, body, delayMs, contentType = 'application/json; charset=utf-8') => {
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': contentType });
        res.end(JSON.stringify(body));
      };
      if (delayMs) later(send, delayMs);
      else send();
    },
    close: async () => {
      timers.forEach((timer) => clearTimeout(timer));
      sockets.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
