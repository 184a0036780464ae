// What the two live-editing load generators share (bench/load/live-edits.ts, this server's client
// SDK; bench/load/peer-edits.ts, the peers' own clients), on this process's clock: the phases, every
// failure counted in the phase it happened in; the harness's `go`, which fixes the window; the
// open-loop schedule of an editor's edits and how late each one left; the value an edit sets and how
// an observer reads it back; the drain after the window; and whether the process kept up.
import { setTimeout as sleep } from 'node:timers/promises';
import { readyThenWaitForGo } from './ipc.ts';
import { PHASES, type LiveEditsReady, type LiveEditsResult, type Phase } from './live-edits-result.ts';
import { measureOwnWindow, type OwnUsage } from './own-usage.ts';
import { percentile } from './stats.ts';

const MAX_ERROR_SAMPLES = 10;

/** What an editor sets its own key `e<index>` of the shared map to: `<sequence>@<send time>`, on this process's clock. */
export function editValue(sequence: number, sentAt: number): string {
  return `${sequence}@${sentAt.toFixed(3)}`;
}

/** What an observer uses of its Y.Map (the two load generators load different copies of Yjs). */
type ObservedMap = {
  observe(listener: (event: { keysChanged: Set<string>; transaction: { local: boolean } }) => void): void;
  get(key: string): unknown;
};

export class EditClock {
  #started = false;
  /** When the warm-up starts (performance.now()); unknown until `go`. */
  base = Number.POSITIVE_INFINITY;
  windowStart = Number.POSITIVE_INFINITY;
  windowEnd = Number.POSITIVE_INFINITY;
  /** Failures by phase and kind; never dropped. */
  readonly #errors = Object.fromEntries(PHASES.map((phase) => [phase, {}])) as Record<Phase, Record<string, number>>;
  readonly #errorSamples: string[] = [];
  /** Edits made, by the phase they were made in. */
  readonly sent: Record<Phase, number> = { setup: 0, warmup: 0, window: 0, after: 0 };
  /** Window only: each edit's send time minus its scheduled time. */
  readonly #scheduleLagMs: number[] = [];
  #ownUsage: Promise<OwnUsage> | undefined;

  /** Whether the harness said `go`: everything before is set-up. */
  get started(): boolean {
    return this.#started;
  }

  phaseAt(t: number): Phase {
    return !this.#started ? 'setup' : t < this.windowStart ? 'warmup' : t < this.windowEnd ? 'window' : 'after';
  }

  countError(kind: string, detail?: string): void {
    const bucket = this.#errors[this.phaseAt(performance.now())];
    bucket[kind] = (bucket[kind] ?? 0) + 1;
    if (this.#errorSamples.length < MAX_ERROR_SAMPLES) this.#errorSamples.push(`${kind}${detail !== undefined ? `: ${detail}` : ''}`);
  }

  /**
   * Calls `seen(from, sequence, sentAt, now)` for every key `e<index>` that a remote change of `map`
   * set, `from` being senders[index], with the sequence number and send time of the edit value, `now`
   * when the change was observed; a value of another form is counted as an error.
   */
  observeEdits<Sender>(map: ObservedMap, senders: readonly Sender[], seen: (from: Sender, sequence: number, sentAt: number, now: number) => void): void {
    map.observe((event) => {
      if (event.transaction.local) return;
      const now = performance.now();
      for (const key of event.keysChanged) {
        const sender = /^e(\d+)$/.exec(key);
        const from = sender ? senders[Number(sender[1])] : undefined;
        if (from === undefined) continue;
        const value = map.get(key);
        const parsed = typeof value === 'string' ? /^(\d+)@(\d+(?:\.\d+)?)$/.exec(value) : null;
        if (!parsed) {
          this.countError('unexpected value', `${key}=${String(value)}`);
          continue;
        }
        seen(from, Number(parsed[1]), Number(parsed[2]), now);
      }
    });
  }

  /**
   * Tells the harness the set-up is done and waits for its `go`: the warm-up starts at its wall-clock
   * time, then the window. This process's CPU and event-loop delay are measured over the window.
   */
  async readyThenGo(ready: LiveEditsReady, warmupMs: number, durationMs: number): Promise<void> {
    const go = await readyThenWaitForGo<LiveEditsReady>(ready);
    this.base = performance.now() + (go.startAtEpochMs - Date.now());
    this.windowStart = this.base + warmupMs;
    this.windowEnd = this.windowStart + durationMs;
    this.#started = true;
    this.#ownUsage = measureOwnWindow(this.windowStart, this.windowEnd);
  }

  /** An edit scheduled at `scheduledAt` leaves now: counted in its phase, and in the window how late it left. */
  send(scheduledAt: number): { sentAt: number; phase: Phase } {
    const sentAt = performance.now();
    const phase = this.phaseAt(sentAt);
    if (phase === 'window') this.#scheduleLagMs.push(sentAt - scheduledAt);
    this.sent[phase] += 1;
    return { sentAt, phase };
  }

  /**
   * Open loop: `edit(scheduledAt)` at base + a random phase + n × (1000 / editsPerSecond) ms, until
   * the window ends, whatever the server's answers do.
   */
  scheduleEdits(editsPerSecond: number, edit: (scheduledAt: number) => void): void {
    const intervalMs = 1000 / editsPerSecond;
    const offsetMs = Math.random() * intervalMs;
    const schedule = (n: number) => {
      const at = this.base + offsetMs + n * intervalMs;
      if (at >= this.windowEnd) return;
      setTimeout(() => {
        edit(at);
        schedule(n + 1);
      }, Math.max(0, at - performance.now()));
    };
    schedule(0);
  }

  /**
   * Resolves once the window has closed and then `settled()` holds (the window's edits acknowledged
   * and seen), or `drainMs` passed, with what the result says of the phases: the failures (the same
   * object, still counting), whether this process kept up, and how the drain went.
   */
  async afterWindow(settled: () => boolean, drainMs: number): Promise<Pick<LiveEditsResult, 'errors' | 'errorSamples' | 'loadGenerator' | 'drainMs' | 'drainTimedOut'>> {
    if (this.#ownUsage === undefined) throw new Error('afterWindow before go');
    const own = await this.#ownUsage;
    const drainStartedAt = performance.now();
    while (!settled() && performance.now() - drainStartedAt < drainMs) await sleep(50);
    const drained = performance.now() - drainStartedAt;
    const lag = Float64Array.from(this.#scheduleLagMs).sort();
    return {
      errors: this.#errors,
      errorSamples: this.#errorSamples,
      loadGenerator: {
        cpuSeconds: own.cpuSeconds,
        eventLoopDelayMs: own.eventLoopDelayMs,
        scheduleLagMs: { p50: percentile(lag, 50), p99: percentile(lag, 99), max: lag.length > 0 ? lag[lag.length - 1]! : Number.NaN },
      },
      drainMs: drained,
      drainTimedOut: !settled(),
    };
  }
}
