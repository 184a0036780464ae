// A small actor runtime in the manner of Orleans' virtual actors: callers address an actor by id
// and never care whether it is active; the host activates it on the first message, runs one message
// at a time (a mailbox), passivates it after an idle period, and offers timers that deliver
// through the mailbox. Where an actor lives is the placement's business (see placement.ts).

/** What an actor implementation provides. */
export interface Actor<Message, Reply> {
  /** Handles one message; never called concurrently with another message or with passivate. */
  receive(message: Message): Promise<Reply>;
  /** Flushes and releases resources before the host forgets the actor (idle or shutdown). */
  passivate(): Promise<void>;
  /** Drops the actor without flushing: its state can no longer be trusted (e.g. fenced out). */
  destroy(): void;
}

/** What the host offers an actor. */
export interface ActorContext<Message> {
  readonly id: string;
  /** Delivers `message` through the mailbox after `delayMs`; replaces a timer of the same name. */
  setTimer(name: string, delayMs: number, message: Message): void;
  clearTimer(name: string): void;
}

/** Thrown by an actor whose state must not be used any more; the host drops the activation. */
export class ActorFailure extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'ActorFailure';
  }
}

export type ActorHostOptions<Message, Reply, A extends Actor<Message, Reply>> = {
  /** Loads an actor's state (activation). May throw: the message that triggered it fails. */
  activate(id: string, context: ActorContext<Message>): Promise<A>;
  /** Passivate an actor after this long without a message. */
  idleMs: number;
  /** Lifecycle notifications for metrics and logs. */
  onEvent?(event: 'activated' | 'passivated' | 'failed', id: string, error?: unknown): void;
};

type Activation<A> = {
  actor: Promise<A>;
  /** Tail of the mailbox: each message runs after the previous one settled. */
  tail: Promise<unknown>;
  pending: number;
  /** No new messages: passivating, passivated or failed. */
  closed: boolean;
  /** Set when the actor was destroyed: it must not be passivated (flushed) any more. */
  failed: boolean;
  idleTimer?: NodeJS.Timeout;
  timers: Map<string, NodeJS.Timeout>;
};

export class ActorHost<Message, Reply, A extends Actor<Message, Reply>> {
  readonly #options: ActorHostOptions<Message, Reply, A>;
  readonly #activations = new Map<string, Activation<A>>();
  #stopped = false;

  constructor(options: ActorHostOptions<Message, Reply, A>) {
    this.#options = options;
  }

  /** Number of live activations on this host. */
  get size(): number {
    return this.#activations.size;
  }

  /** Ids of the live activations (e.g. those of a shard being handed off). */
  activeIds(): string[] {
    return [...this.#activations].flatMap(([id, activation]) => (activation.closed ? [] : [id]));
  }

  isActive(id: string): boolean {
    const activation = this.#activations.get(id);
    return activation !== undefined && !activation.closed;
  }

  /** Sends `message` to actor `id`, activating it if needed; resolves with its reply. */
  ask(id: string, message: Message): Promise<Reply> {
    if (this.#stopped) return Promise.reject(new Error('actor host is stopped'));
    return this.#enqueue(id, this.#activation(id), (actor) => actor.receive(message));
  }

  /** Passivates one actor now (after the messages already queued for it). */
  async passivate(id: string): Promise<void> {
    const activation = this.#activations.get(id);
    if (activation) await this.#close(id, activation);
  }

  /**
   * Drops an actor without flushing (its state can no longer be trusted, e.g. its shard was fenced
   * off): queued messages fail with ActorFailure, and the actor is destroyed once the message in
   * progress settled.
   */
  drop(id: string): void {
    const activation = this.#activations.get(id);
    if (!activation || activation.failed) return;
    activation.failed = true;
    this.#forget(id, activation);
    void activation.tail.then(() => activation.actor).then(
      (actor) => actor.destroy(),
      () => {},
    );
    this.#options.onEvent?.('failed', id, new ActorFailure(`actor ${id} was dropped`));
  }

  /** Passivates every actor (graceful shutdown); later asks are refused. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled([...this.#activations.entries()].map(([id, activation]) => this.#close(id, activation)));
  }

  #activation(id: string): Activation<A> {
    const previous = this.#activations.get(id);
    if (previous && !previous.closed) return previous;
    const timers = new Map<string, NodeJS.Timeout>();
    const context: ActorContext<Message> = {
      id,
      setTimer: (name, delayMs, message) => {
        clearTimeout(timers.get(name));
        timers.set(
          name,
          setTimeout(() => {
            timers.delete(name);
            // A timer message has no caller to report a failure to; the actor logs its own.
            if (this.#activations.get(id) === activation && !activation.closed) this.ask(id, message).catch(() => {});
          }, delayMs),
        );
      },
      clearTimer: (name) => {
        clearTimeout(timers.get(name));
        timers.delete(name);
      },
    };
    // A new activation loads state only after the previous one (still passivating) has flushed it.
    const actor = (previous?.tail ?? Promise.resolve()).then(() => this.#options.activate(id, context));
    const activation: Activation<A> = { actor, tail: actor.catch(() => {}), pending: 0, closed: false, failed: false, timers };
    this.#activations.set(id, activation);
    actor.then(
      () => this.#options.onEvent?.('activated', id),
      (error: unknown) => {
        activation.failed = true;
        this.#forget(id, activation);
        this.#options.onEvent?.('failed', id, error);
      },
    );
    return activation;
  }

  #enqueue<R>(id: string, activation: Activation<A>, work: (actor: A) => Promise<R>): Promise<R> {
    activation.pending += 1;
    clearTimeout(activation.idleTimer);
    const result = activation.tail.then(async () => {
      const actor = await activation.actor; // rethrows an activation failure to every caller
      if (activation.failed) throw new ActorFailure(`actor ${id} was dropped; retry`);
      try {
        return await work(actor);
      } catch (error) {
        if (error instanceof ActorFailure && !activation.failed) {
          activation.failed = true;
          this.#forget(id, activation);
          actor.destroy();
          this.#options.onEvent?.('failed', id, error);
        }
        throw error;
      }
    });
    activation.tail = result.catch(() => {});
    void activation.tail.then(() => {
      activation.pending -= 1;
      if (activation.pending === 0 && !activation.closed) {
        activation.idleTimer = setTimeout(() => void this.#close(id, activation).catch(() => {}), this.#options.idleMs);
      }
    });
    return result;
  }

  async #close(id: string, activation: Activation<A>): Promise<void> {
    if (activation.closed) {
      await activation.tail;
      return;
    }
    activation.closed = true;
    clearTimeout(activation.idleTimer);
    for (const timer of activation.timers.values()) clearTimeout(timer);
    const done = activation.tail.then(async () => {
      try {
        if (!activation.failed) await (await activation.actor).passivate();
      } finally {
        this.#forget(id, activation);
      }
      this.#options.onEvent?.('passivated', id);
    });
    activation.tail = done.catch(() => {});
    await done;
  }

  #forget(id: string, activation: Activation<A>): void {
    activation.closed = true;
    clearTimeout(activation.idleTimer);
    for (const timer of activation.timers.values()) clearTimeout(timer);
    if (this.#activations.get(id) === activation) this.#activations.delete(id);
  }
}
