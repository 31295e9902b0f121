/**
 * The trade-lifecycle state machine run locally: the real ASL (`statemachines/trade-lifecycle.asl.json`) on
 * aws-local-stepfunctions, with
 * - the Lambda tasks mapped by state name to the real handler modules (`taskResourceLocalHandlers`);
 * - `.waitForTaskToken` emulated: `lambda:invoke.waitForTaskToken` calls the handler with the payload and
 *   `sqs:sendMessage.waitForTaskToken` puts the message on the local SQS order queue (where the real
 *   order-executor handler consumes it through `pollOnce`); either state then waits on a promise that
 *   {@link LocalStepFunctions.sendTaskSuccess} / {@link LocalStepFunctions.sendTaskFailure} settle;
 * - `$$.Task.Token` (a fresh token per task) and `$$.State.EnteredTime` (from the given clock), which the
 *   library's context object does not provide;
 * - Wait times overridable (`waitTimeOverrides`, ms per state name) — or shortened through the input
 *   (`SecondsPath`) — or run on a simulated clock (`clockWait`: each Wait state becomes a Task state of the
 *   same name that waits until the clock reaches the wait's end; the input passes through unchanged, as
 *   for a Wait state);
 * - the workflow port (`startExecution` by name, idempotent; the callbacks).
 * Node 20 lacks `Promise.withResolvers`, which the library uses; it is polyfilled here when missing.
 */
import { readFileSync } from 'node:fs';
import { StateMachine } from 'aws-local-stepfunctions';
import type { StateMachineDefinition } from 'aws-local-stepfunctions';
import type { Clock } from '../../functions/ports/clock.js';
import type { CallbackResult, StartExecutionResult, WorkflowPort } from '../../functions/ports/workflow.js';

if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (v: T | PromiseLike<T>) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
}

/** The ASL file of the trade lifecycle. */
export const TRADE_LIFECYCLE_ASL = new URL('../../statemachines/trade-lifecycle.asl.json', import.meta.url);

/** Reads the trade-lifecycle ASL (a fresh object on every call). */
export function loadTradeLifecycleDefinition(): Record<string, unknown> {
  return JSON.parse(readFileSync(TRADE_LIFECYCLE_ASL, 'utf8')) as Record<string, unknown>;
}

/** Replaces every `${Name}` of `substitutions` in the definition (what CDK DefinitionSubstitutions do). */
export function substitute(definition: unknown, substitutions: Record<string, string>): unknown {
  let text = JSON.stringify(definition);
  for (const [k, v] of Object.entries(substitutions)) text = text.split('${' + k + '}').join(v);
  return JSON.parse(text) as unknown;
}

/** A Lambda handler as the state machine calls it. */
export type LambdaHandler = (input: unknown) => Promise<unknown>;

/** What the harness needs to run the trade lifecycle. */
export interface LocalStepFunctionsOptions {
  /** The ASL (with `${Placeholder}` resources); default: the trade-lifecycle file. */
  definition?: Record<string, unknown>;
  /** Lambda handlers by the placeholder of their ARN, e.g. `EvaluateFunctionArn`. */
  lambdas: Record<string, LambdaHandler>;
  /** Values of the other placeholders (e.g. `OrderQueueUrl`). */
  substitutions?: Record<string, string>;
  /** Sends a message for `sqs:sendMessage.waitForTaskToken` states (the processed Parameters). */
  sendMessage: (params: {
    QueueUrl: string;
    MessageBody: unknown;
    MessageGroupId?: string;
    MessageDeduplicationId?: string;
  }) => Promise<void>;
  /** Called after each sendMessage (e.g. to pump the order queue through its consumer). */
  afterSend?: () => void;
  /** The clock of `$$.State.EnteredTime` (default: Date.now). */
  clock?: Clock;
  /** Wait-state durations in ms, by state name. */
  waitTimeOverrides?: Record<string, number>;
  /** Retry intervals in ms, by state name (default 0 for every state: retries are immediate locally). */
  retryIntervalOverrides?: Record<string, number>;
  /**
   * Runs Wait states on a simulated clock: called with the epoch ms the wait ends at (from `Seconds`,
   * `SecondsPath`, `Timestamp` or `TimestampPath`, counted from `clock`) and the state's name; the state
   * ends when the promise resolves. `waitTimeOverrides` still win for the states they name.
   */
  clockWait?: (until: number, state: string) => Promise<void>;
}

/** The resource the Wait states run as under `clockWait`. */
const CLOCK_WAIT_RESOURCE = 'arn:aws:states:::local:clockWait';

/** Rewrites each Wait state (not overridden) as a Task of the same name run by the clock-wait handler. */
function clockWaitDefinition(
  definition: Record<string, unknown>,
  overridden: Record<string, number>,
): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(definition)) as Record<string, unknown>;
  const states = (copy.States ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, state] of Object.entries(states)) {
    if (state.Type !== 'Wait' || name in overridden) continue;
    const params: Record<string, unknown> = {};
    if (typeof state.Seconds === 'number') params.seconds = state.Seconds;
    else if (typeof state.SecondsPath === 'string') params['seconds.$'] = state.SecondsPath;
    else if (typeof state.Timestamp === 'string') params.timestamp = state.Timestamp;
    else if (typeof state.TimestampPath === 'string') params['timestamp.$'] = state.TimestampPath;
    else throw new TypeError(`Wait state ${name} has no Seconds, SecondsPath, Timestamp or TimestampPath`);
    const task: Record<string, unknown> = {
      Type: 'Task',
      Resource: CLOCK_WAIT_RESOURCE,
      Parameters: params,
      ResultPath: null,
    };
    for (const k of ['Next', 'End', 'InputPath', 'OutputPath', 'Comment']) if (k in state) task[k] = state[k];
    states[name] = task;
  }
  return copy;
}

/** One local execution. */
export interface LocalExecution {
  name: string;
  input: Record<string, unknown>;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';
  output: unknown;
  /** The error of a failed execution (`name: message`). */
  error: string | null;
  /** States entered, in order. */
  statesEntered: string[];
  /** Settles when the execution ends (never rejects). */
  done: Promise<LocalExecution>;
}

interface PendingTask {
  execution: string;
  state: string;
  /** The task's invocation (Lambda call or message send) has completed. */
  ready: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** A named error for a task failure (the state machine matches `name`). */
function taskError(name: string, message: string): Error {
  const e = new Error(message);
  e.name = name;
  return e;
}

/** The local Step Functions of the trade lifecycle; also the {@link WorkflowPort} of the handlers. */
export class LocalStepFunctions implements WorkflowPort {
  private readonly definition: Record<string, unknown>;
  /** The definition before substitution (Wait states rewritten under `clockWait`). */
  private readonly raw: Record<string, unknown>;
  private readonly machine: StateMachine;
  private readonly executions = new Map<string, LocalExecution>();
  private readonly aborts = new Map<string, () => void>();
  private readonly pending = new Map<string, PendingTask>();
  private tokens = 0;

  constructor(private readonly opts: LocalStepFunctionsOptions) {
    const loaded = opts.definition ?? loadTradeLifecycleDefinition();
    const raw = opts.clockWait ? clockWaitDefinition(loaded, opts.waitTimeOverrides ?? {}) : loaded;
    this.raw = raw;
    const lambdaArns: Record<string, string> = {};
    for (const k of Object.keys(opts.lambdas))
      lambdaArns[k] = `arn:aws:lambda:us-east-1:000000000000:function:${k.replace(/Arn$/, '')}`;
    this.definition = substitute(raw, { ...lambdaArns, ...opts.substitutions }) as Record<string, unknown>;
    this.machine = new StateMachine(this.definition as unknown as StateMachineDefinition, {
      validationOptions: { checkArn: false },
    });
  }

  /** Task states and how each is run locally, by state name. */
  private localHandlers(execution: string): Record<string, (input: unknown) => Promise<unknown>> {
    const out: Record<string, (input: unknown) => Promise<unknown>> = {};
    const states = (this.raw.States ?? {}) as Record<string, { Type?: string; Resource?: string }>;
    for (const [name, state] of Object.entries(states)) {
      if (state.Type !== 'Task' || typeof state.Resource !== 'string') continue;
      const resource = state.Resource;
      const placeholder = /^\$\{(\w+)\}$/.exec(resource)?.[1];
      if (placeholder !== undefined) {
        const fn = this.opts.lambdas[placeholder];
        if (!fn) throw new TypeError(`no local handler for ${resource} (state ${name})`);
        out[name] = (input) => fn(input);
      } else if (resource === CLOCK_WAIT_RESOURCE && this.opts.clockWait) {
        const wait = this.opts.clockWait;
        out[name] = async (input) => {
          const p = input as { seconds?: unknown; timestamp?: unknown };
          const now = (this.opts.clock ?? { now: () => Date.now() }).now();
          let until: number;
          if (p.seconds !== undefined) {
            if (typeof p.seconds !== 'number' || !Number.isInteger(p.seconds) || p.seconds < 0)
              throw taskError(
                'States.Runtime',
                `Wait ${name}: seconds must be an integer ≥ 0, got ${JSON.stringify(p.seconds)}`,
              );
            until = now + p.seconds * 1000;
          } else {
            const at = typeof p.timestamp === 'string' ? Date.parse(p.timestamp) : Number.NaN;
            if (Number.isNaN(at))
              throw taskError(
                'States.Runtime',
                `Wait ${name}: timestamp ${String(p.timestamp)} is not a time`,
              );
            until = at;
          }
          await wait(until, name);
          return {};
        };
      } else if (resource === 'arn:aws:states:::lambda:invoke.waitForTaskToken') {
        out[name] = async (input) => {
          const p = input as { FunctionName: string; Payload: unknown };
          const key = Object.entries(this.opts.lambdas).find(
            ([k]) =>
              p.FunctionName === `arn:aws:lambda:us-east-1:000000000000:function:${k.replace(/Arn$/, '')}`,
          );
          if (!key) throw new TypeError(`no local function ${p.FunctionName} (state ${name})`);
          const token = findToken(p.Payload);
          const waiting = this.waitForCallback(token, execution, name);
          await key[1](p.Payload);
          this.markReady(token);
          return waiting;
        };
      } else if (resource === 'arn:aws:states:::sqs:sendMessage.waitForTaskToken') {
        out[name] = async (input) => {
          const p = input as Parameters<LocalStepFunctionsOptions['sendMessage']>[0];
          const token = findToken(p.MessageBody);
          const waiting = this.waitForCallback(token, execution, name);
          await this.opts.sendMessage(p);
          this.markReady(token);
          this.opts.afterSend?.();
          return waiting;
        };
      } else {
        throw new TypeError(`state ${name}: resource ${resource} is not supported locally`);
      }
    }
    return out;
  }

  private waitForCallback(token: string, execution: string, state: string): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this.pending.set(token, { execution, state, ready: false, resolve, reject }),
    );
  }

  private markReady(token: string): void {
    const p = this.pending.get(token);
    if (p) p.ready = true;
  }

  startExecution(name: string, input: Record<string, unknown>): Promise<StartExecutionResult> {
    if (this.executions.has(name)) return Promise.resolve({ started: false });
    const clock = this.opts.clock ?? { now: () => Date.now() };
    const mint = () => `${name}:task:${++this.tokens}`;
    const context = {
      Execution: { Name: name, Id: `arn:aws:states:local:execution:${name}` },
      Task: {
        get Token() {
          return mint();
        },
      },
      State: {
        get EnteredTime() {
          return new Date(clock.now()).toISOString();
        },
      },
    };
    const retry: Record<string, number> = {};
    const states = (this.definition.States ?? {}) as Record<string, unknown>;
    for (const s of Object.keys(states)) retry[s] = 0;
    const run = this.machine.run(JSON.parse(JSON.stringify(input)) as never, {
      overrides: {
        taskResourceLocalHandlers: this.localHandlers(name) as never,
        waitTimeOverrides: this.opts.waitTimeOverrides ?? {},
        retryIntervalOverrides: { ...retry, ...this.opts.retryIntervalOverrides },
      },
      context,
    });
    const exec: LocalExecution = {
      name,
      input,
      status: 'RUNNING',
      output: null,
      error: null,
      statesEntered: [],
      done: Promise.resolve(null as unknown as LocalExecution),
    };
    exec.done = run.result.then(
      (out) => {
        exec.status = 'SUCCEEDED';
        exec.output = out;
        return exec;
      },
      (e: unknown) => {
        const cause = (e as { cause?: unknown }).cause;
        const inner = cause instanceof Error ? cause : (e as Error);
        exec.status = (e as Error).name === 'ExecutionAbortedError' ? 'ABORTED' : 'FAILED';
        exec.error = `${inner.name}: ${inner.message}`;
        return exec;
      },
    );
    void (async () => {
      for await (const ev of run.eventLogs) {
        if (ev.type === 'StateEntered')
          exec.statesEntered.push((ev as { state: { name: string } }).state.name);
      }
    })().catch(() => undefined);
    this.executions.set(name, exec);
    this.aborts.set(name, run.abort);
    return Promise.resolve({ started: true });
  }

  sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<CallbackResult> {
    const p = this.pending.get(token);
    if (!p) return Promise.resolve({ delivered: false });
    this.pending.delete(token);
    p.resolve(JSON.parse(JSON.stringify(output)));
    return Promise.resolve({ delivered: true });
  }

  sendTaskFailure(token: string, error: string, cause: string): Promise<CallbackResult> {
    const p = this.pending.get(token);
    if (!p) return Promise.resolve({ delivered: false });
    this.pending.delete(token);
    p.reject(taskError(error, cause));
    return Promise.resolve({ delivered: true });
  }

  /** The execution named `name`, or undefined. */
  execution(name: string): LocalExecution | undefined {
    return this.executions.get(name);
  }

  /** Every execution started. */
  list(): LocalExecution[] {
    return [...this.executions.values()];
  }

  /** Tasks waiting for a callback: token, execution, state, and whether the task's invocation completed. */
  waitingTasks(): { token: string; execution: string; state: string; ready: boolean }[] {
    return [...this.pending.entries()].map(([token, p]) => ({
      token,
      execution: p.execution,
      state: p.state,
      ready: p.ready,
    }));
  }

  /**
   * Resolves with the token once `execution` waits for a callback in `state` and the state's invocation
   * has completed (e.g. `armLive` stored the token); polls every 2 ms; rejects after `timeoutMs`.
   */
  async waitForTask(execution: string, state: string, timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const t = this.waitingTasks().find((w) => w.execution === execution && w.state === state && w.ready);
      if (t) return t.token;
      const e = this.executions.get(execution);
      if (e && e.status !== 'RUNNING')
        throw new Error(
          `execution ${execution} ended (${e.status}${e.error ? `: ${e.error}` : ''}) before waiting in ${state}; states: ${e.statesEntered.join(' → ')}`,
        );
      if (Date.now() > until)
        throw new Error(
          `execution ${execution} did not wait in ${state} within ${timeoutMs} ms; states: ${e?.statesEntered.join(' → ') ?? 'none'}`,
        );
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Waits for the execution to end (rejects after `timeoutMs`). */
  async finished(name: string, timeoutMs = 20_000): Promise<LocalExecution> {
    const e = this.executions.get(name);
    if (!e) throw new Error(`no execution ${name}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `execution ${name} still running after ${timeoutMs} ms; states: ${e.statesEntered.join(' → ')}`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([e.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Fails every waiting task and aborts every running execution. */
  async stop(): Promise<void> {
    for (const [token, p] of this.pending) {
      this.pending.delete(token);
      p.reject(taskError('States.Aborted', 'the local state machine was stopped'));
    }
    for (const [name, abort] of this.aborts) if (this.executions.get(name)?.status === 'RUNNING') abort();
    await Promise.all([...this.executions.values()].map((e) => e.done));
  }
}

function findToken(payload: unknown): string {
  const p = payload as { taskToken?: unknown } | null;
  if (!p || typeof p.taskToken !== 'string') throw new TypeError('the callback payload has no taskToken');
  return p.taskToken;
}
