import { describe, expect, it } from '@jest/globals';
import { ActorFailure, ActorHost, type Actor, type ActorContext } from './runtime.ts';

type Message = { type: 'work'; ms: number; label: string } | { type: 'fail' } | { type: 'timer'; label: string } | { type: 'arm'; ms: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A test actor that records what it saw, and how many of its messages ran at once. */
function recordingHost(idleMs = 10_000) {
  const journal: string[] = [];
  let running = 0;
  let maxRunning = 0;
  let activations = 0;
  let passivations = 0;
  const host = new ActorHost<Message, string, Actor<Message, string>>({
    idleMs,
    activate: async (id: string, context: ActorContext<Message>) => {
      activations += 1;
      await sleep(5); // loading state takes time
      journal.push(`activate ${id}`);
      return {
        async receive(message) {
          running += 1;
          maxRunning = Math.max(maxRunning, running);
          try {
            if (message.type === 'fail') throw new ActorFailure('state is stale');
            if (message.type === 'arm') {
              context.setTimer('tick', message.ms, { type: 'timer', label: 'tick' });
              return 'armed';
            }
            if (message.type === 'work') await sleep(message.ms);
            journal.push(`${id} ${message.label}`);
            return message.label;
          } finally {
            running -= 1;
          }
        },
        async passivate() {
          await sleep(20); // flushing takes time
          passivations += 1;
          journal.push(`passivate ${id}`);
        },
        destroy() {
          journal.push(`destroy ${id}`);
        },
      };
    },
  });
  return { host, journal, stats: () => ({ maxRunning, activations, passivations }) };
}

describe('the actor host', () => {
  it('activates an actor on its first message and runs its messages one at a time, in order', async () => {
    const { host, journal, stats } = recordingHost();
    const replies = await Promise.all([
      host.ask('a', { type: 'work', ms: 20, label: 'first' }),
      host.ask('a', { type: 'work', ms: 1, label: 'second' }),
      host.ask('a', { type: 'work', ms: 5, label: 'third' }),
    ]);
    expect(replies).toEqual(['first', 'second', 'third']);
    expect(journal).toEqual(['activate a', 'a first', 'a second', 'a third']);
    expect(stats()).toMatchObject({ maxRunning: 1, activations: 1 });
    await host.stop();
  });

  it('runs different actors concurrently', async () => {
    const { host, journal } = recordingHost();
    await Promise.all([host.ask('a', { type: 'work', ms: 30, label: 'slow' }), host.ask('b', { type: 'work', ms: 1, label: 'fast' })]);
    expect(journal.indexOf('b fast')).toBeLessThan(journal.indexOf('a slow'));
    await host.stop();
  });

  it('passivates an idle actor and reactivates it after its flush completed', async () => {
    const { host, journal, stats } = recordingHost(30);
    await host.ask('a', { type: 'work', ms: 1, label: 'one' });
    expect(host.isActive('a')).toBe(true);
    await sleep(45); // idle timer fired, passivation (20 ms) under way
    await host.ask('a', { type: 'work', ms: 1, label: 'two' });
    expect(journal).toEqual(['activate a', 'a one', 'passivate a', 'activate a', 'a two']);
    expect(stats()).toMatchObject({ activations: 2, passivations: 1 });
    await host.stop();
  });

  it('delivers timers through the mailbox and cancels them on passivation', async () => {
    const { host, journal } = recordingHost();
    await host.ask('a', { type: 'arm', ms: 10 });
    await sleep(30);
    expect(journal).toContain('a tick');
    await host.ask('a', { type: 'arm', ms: 30 });
    await host.passivate('a');
    await sleep(50);
    expect(journal.filter((line) => line === 'a tick')).toHaveLength(1);
    expect(host.isActive('a')).toBe(false); // the cancelled timer did not reactivate it
  });

  it('drops an actor that reports a failure, without flushing it, and reactivates on the next message', async () => {
    const { host, journal, stats } = recordingHost();
    await host.ask('a', { type: 'work', ms: 1, label: 'before' });
    await expect(host.ask('a', { type: 'fail' })).rejects.toBeInstanceOf(ActorFailure);
    expect(host.isActive('a')).toBe(false);
    await host.ask('a', { type: 'work', ms: 1, label: 'after' });
    expect(journal).toEqual(['activate a', 'a before', 'destroy a', 'activate a', 'a after']);
    expect(stats().passivations).toBe(0);
    await host.stop();
  });

  it('reports an activation failure to the callers and retries activation on the next message', async () => {
    let attempts = 0;
    const host = new ActorHost<string, string, Actor<string, string>>({
      idleMs: 1_000,
      activate: async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('database down');
        return { receive: async (m) => m, passivate: async () => {}, destroy: () => {} };
      },
    });
    await expect(Promise.all([host.ask('a', 'x'), host.ask('a', 'y')])).rejects.toThrow('database down');
    await expect(host.ask('a', 'z')).resolves.toBe('z');
    await host.stop();
  });

  it('passivates every actor on stop and refuses messages afterwards', async () => {
    const { host, stats } = recordingHost();
    await Promise.all(['a', 'b', 'c'].map((id) => host.ask(id, { type: 'work', ms: 1, label: 'x' })));
    await host.stop();
    expect(stats().passivations).toBe(3);
    expect(host.size).toBe(0);
    await expect(host.ask('a', { type: 'work', ms: 1, label: 'late' })).rejects.toThrow('stopped');
  });
});
