import net from 'node:net';

/**
 * A TCP port that is free on 127.0.0.1 right now: the kernel picks one for a throwaway listener,
 * which is closed again. Another process could grab it before the caller binds it; the window is
 * a few milliseconds and the kernel hands out ports spread over a large range.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected listener address ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
