/**
 * The simulated clock of the full local runtime and the scheduler that moves it.
 *
 * Every handler, adapter and the paper exchange read time through the clock port, which here is
 * {@link SimScheduler.now}. Time moves only when the runtime says so ({@link SimScheduler.advanceTo}); code
 * that waits (the worker loops between their 10-s ticks, the order executor's back-offs and limit-order
 * polls, modeled exchange latency, the state machine's Wait states) waits on the simulated clock, not on a
 * real timer.
 *
 * Determinism: everything the engine does between two moments of simulated time is either computation
 * (promise chains) or a request to an in-process emulator (dynalite, local-aws-sqs). The scheduler counts
 * the requests in flight ({@link SimScheduler.instrument} adds a middleware to each AWS SDK client);
 * {@link SimScheduler.settle} resolves when none is in flight across two turns of the event loop — every
 * handler has returned or sleeps, and every state machine execution waits for a callback, a Wait state or
 * its end. So the clock advances only between steps, and sleepers due at the same moment are woken one at
 * a time (by priority, then in the order they went to sleep), each running until it sleeps again or ends.
 */
import type { Clock } from '../../functions/ports/clock.js';

/** An AWS SDK v3 client the scheduler instruments (any client has a middleware stack). */
export interface InstrumentableClient {
  middlewareStack: { add(middleware: never, options: never): void };
}

interface Waiter {
  at: number;
  /** Sleepers due at the same time wake in ascending priority, then in the order they went to sleep. */
  priority: number;
  seq: number;
  wake: () => void;
}

/** The simulated clock and its scheduler. */
export class SimScheduler implements Clock {
  private t: number;
  private busy = 0;
  private seq = 0;
  private waiters: Waiter[] = [];
  private idle: (() => void)[] = [];

  /**
   * Starts the clock at `start` (epoch ms). `priority()` is read when a sleeper goes to sleep (e.g. from an
   * AsyncLocalStorage): sleepers due at the same time wake lowest priority first (default 0).
   */
  constructor(
    start: number,
    private readonly priority: () => number = () => 0,
  ) {
    if (!Number.isSafeInteger(start)) throw new RangeError(`start must be an integer epoch ms, got ${start}`);
    this.t = start;
  }

  /** The simulated time, epoch ms. */
  now(): number {
    return this.t;
  }

  /** Emulator requests in flight. */
  get busyCount(): number {
    return this.busy;
  }

  /** Sleepers not yet woken. */
  get sleeping(): number {
    return this.waiters.length;
  }

  /** The time of the earliest sleeper, or null. */
  nextWake(): number | null {
    return this.waiters[0]?.at ?? null;
  }

  /** Counts the requests of an AWS SDK client as busy while they are in flight (call once per client). */
  instrument(client: InstrumentableClient): void {
    const middleware =
      (next: (args: unknown) => Promise<unknown>) =>
      async (args: unknown): Promise<unknown> => {
        this.busy++;
        try {
          return await next(args);
        } finally {
          this.release();
        }
      };
    client.middlewareStack.add(
      middleware as never,
      { step: 'initialize', priority: 'high', name: 'simSchedulerInFlight' } as never,
    );
  }

  /** Counts `work` as busy while it runs, like an instrumented client's request (e.g. HTTP to a local stub). */
  async track<T>(work: () => Promise<T>): Promise<T> {
    this.busy++;
    try {
      return await work();
    } finally {
      this.release();
    }
  }

  /** Sleeps `ms` of simulated time (the handlers' sleep, modeled latency); 0 ms or less returns at once. */
  sleep = (ms: number): Promise<void> => {
    if (!(ms > 0)) return Promise.resolve();
    return this.enqueue(this.t + ms);
  };

  /** Waits until the clock reaches `at` (the state machine's Wait states). */
  waitUntil(at: number): Promise<void> {
    if (at <= this.t) return Promise.resolve();
    return this.enqueue(at);
  }

  /** Resolves once nothing is busy (see the file comment). */
  settle(): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.busy > 0) {
          this.idle.push(check);
          return;
        }
        // Two turns of the event loop: promise chains that continue into new tracked work get to start it.
        setImmediate(() => {
          if (this.busy > 0) {
            this.idle.push(check);
            return;
          }
          setImmediate(() => {
            if (this.busy > 0) this.idle.push(check);
            else resolve();
          });
        });
      };
      check();
    });
  }

  /**
   * Moves the clock forward to `until`, waking every sleeper due by then in time order (one at a time,
   * settling after each); `beforeWake(at)` runs when the clock reaches a sleeper's time, before it is woken.
   * Ends with the clock at `until`, settled. Moving backwards is a RangeError.
   */
  async advanceTo(until: number, beforeWake?: (at: number) => Promise<void> | void): Promise<void> {
    if (until < this.t) throw new RangeError(`cannot move the clock back from ${this.t} to ${until}`);
    await this.settle();
    for (;;) {
      const w = this.waiters[0];
      if (!w || w.at > until) break;
      this.waiters.shift();
      if (w.at > this.t) {
        this.t = w.at;
        await beforeWake?.(w.at);
      }
      w.wake();
      await this.settle();
    }
    this.t = until;
  }

  /**
   * Sets the clock to `at` without waking anyone: only when no sleeper is due before `at` (call
   * {@link advanceTo} with `at − 1` first); sleepers due at `at` are woken by the next {@link advanceTo}.
   */
  async jumpTo(at: number): Promise<void> {
    if (at < this.t) throw new RangeError(`cannot move the clock back from ${this.t} to ${at}`);
    const next = this.nextWake();
    if (next !== null && next < at)
      throw new RangeError(`a sleeper is due at ${next}, before ${at}: advance to it first`);
    await this.settle();
    this.t = at;
  }

  /** Wakes sleepers due now (at or before the current time), in order, settling after each. */
  async wakeDue(): Promise<void> {
    await this.advanceTo(this.t);
  }

  private enqueue(at: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const priority = this.priority();
      const w: Waiter = { at, priority, seq: ++this.seq, wake: resolve };
      // Insert keeping (at, priority, seq) order; the list is short (a few sleepers per running handler).
      let i = this.waiters.length;
      while (i > 0) {
        const prev = this.waiters[i - 1]!;
        if (prev.at > at || (prev.at === at && prev.priority > priority)) i--;
        else break;
      }
      this.waiters.splice(i, 0, w);
    });
  }

  private release(): void {
    this.busy--;
    if (this.busy < 0)
      throw new Error('SimScheduler: more releases than tracked work (a sleep outside track?)');
    if (this.busy === 0 && this.idle.length > 0) {
      const list = this.idle;
      this.idle = [];
      for (const f of list) f();
    }
  }
}

/** A seeded pseudo-random source in [0, 1) (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff)
    throw new RangeError(`seed must be an integer from 0 to 4294967295, got ${seed}`);
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
