/**
 * The stack's input checks: the accounts context, the ASL placeholders, the handler entry files, the
 * configuration written at deploy, the worker schedule input.
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.js';
import { orderDlqShape, orderQueueShape } from '../../functions/resources.js';
import {
  DEFAULT_ACCOUNTS,
  initialConfig,
  parseAccountsContext,
  secretNameFor,
} from '../../lib/exchange-accounts.js';
import { HandlerFunction, assertEntriesExist } from '../../lib/handler-function.js';
import { loadDefinition, placeholdersIn } from '../../lib/lifecycle-state-machine.js';
import { QueueWithDeadLetter } from '../../lib/queues.js';
import { HANDLERS } from '../../lib/tradewarden-stack.js';
import { WorkerSchedules, scheduledEventInput } from '../../lib/worker-schedules.js';
import { PLACEHOLDER_ASL } from './support.js';

const tmp = () => mkdtempSync(join(os.tmpdir(), 'tradewarden-infra-'));

describe('parseAccountsContext', () => {
  it('defaults to the paper demo account when the context is absent', () => {
    expect(parseAccountsContext(undefined)).toEqual(DEFAULT_ACCOUNTS);
    expect(parseAccountsContext('')).toEqual(DEFAULT_ACCOUNTS);
  });

  it('reads the id:exchange shorthand', () => {
    expect(parseAccountsContext('main:binanceusdm, hedge:okx')).toEqual([
      { accountId: 'main', exchange: 'binanceusdm' },
      { accountId: 'hedge', exchange: 'okx' },
    ]);
  });

  it('reads a JSON array, as a string or already parsed', () => {
    const list = [{ accountId: 'b1', exchange: 'bybit' }];
    expect(parseAccountsContext(JSON.stringify(list))).toEqual(list);
    expect(parseAccountsContext(list)).toEqual(list);
  });

  it('names every bad entry: id, exchange and duplicates', () => {
    expect(() => parseAccountsContext('Main:binanceusdm,x:kraken,y:okx,y:okx')).toThrow(
      /accounts\[0\]\.accountId must be 1–32 lowercase.*"Main".*accounts\[1\]\.exchange must be one of binanceusdm, bybit, okx, paper, got "kraken".*accounts\[3\]: duplicate accountId "y"/,
    );
  });

  it('rejects a malformed shorthand, bad JSON and an empty list', () => {
    expect(() => parseAccountsContext('main')).toThrow('"main" is not "<accountId>:<exchange>"');
    expect(() => parseAccountsContext('[{')).toThrow('context "accounts" is not valid JSON');
    expect(() => parseAccountsContext('[]')).toThrow('must be a non-empty list');
  });
});

describe('initialConfig', () => {
  it('points each exchange account at its secret by name and passes the engine schema', () => {
    const raw = initialConfig([
      { accountId: 'main', exchange: 'binanceusdm' },
      { accountId: 'demo', exchange: 'paper' },
    ]);
    const config = parseConfig(raw);
    expect(config.accounts.get('main')?.secretName).toBe('tradewarden/exchange/main');
    expect(secretNameFor('main')).toBe('tradewarden/exchange/main');
    expect(config.accounts.get('demo')?.secretName).toBeUndefined();
    expect(JSON.stringify(raw)).not.toMatch(/apiKey/);
  });
});

describe('state machine definition', () => {
  it('lists the placeholders of an ASL text', () => {
    expect(placeholdersIn('{"a":"${B}","b":"${A}","c":"${B}","d":"$.x"}')).toEqual(['A', 'B']);
  });

  it('accepts the test placeholder definition', () => {
    expect(placeholdersIn(loadDefinition(PLACEHOLDER_ASL))).toEqual([
      'EvaluateFunctionArn',
      'LifecycleTaskFunctionArn',
      'OrderQueueUrl',
    ]);
  });

  it('names a missing file, invalid JSON, a missing StartAt and an unknown placeholder', () => {
    const dir = tmp();
    expect(() => loadDefinition(join(dir, 'none.asl.json'))).toThrow(/none\.asl\.json is missing/);
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(() => loadDefinition(join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/);
    writeFileSync(join(dir, 'nostart.json'), '{"States":{}}');
    expect(() => loadDefinition(join(dir, 'nostart.json'))).toThrow(/has no StartAt\/States/);
    writeFileSync(
      join(dir, 'extra.json'),
      JSON.stringify({
        StartAt: 'A',
        States: { A: { Type: 'Task', Resource: '${ReconcileFunctionArn}', End: true } },
      }),
    );
    expect(() => loadDefinition(join(dir, 'extra.json'))).toThrow(
      'uses placeholder(s) ${ReconcileFunctionArn}; the stack fills only ${EvaluateFunctionArn}, ${LifecycleTaskFunctionArn}, ${OrderQueueUrl}',
    );
  });
});

describe('handler entry files', () => {
  it('assertEntriesExist names every missing entry', () => {
    const root = tmp();
    mkdirSync(join(root, 'functions', 'handlers'), { recursive: true });
    writeFileSync(join(root, 'functions', 'handlers', 'evaluate.ts'), 'export const handler = 1;');
    expect(() =>
      assertEntriesExist(root, [
        'functions/handlers/evaluate.ts',
        'functions/handlers/a.ts',
        'functions/handlers/b.ts',
      ]),
    ).toThrow('handler entry file(s) missing: functions/handlers/a.ts, functions/handlers/b.ts');
    expect(() => assertEntriesExist(root, ['functions/handlers/evaluate.ts'])).not.toThrow();
  });

  it('a bundled (non-test) function fails synthesis with the missing entry named', () => {
    const app = new App();
    const stack = new Stack(app, 'S');
    expect(() => new HandlerFunction(stack, 'F', { spec: HANDLERS.stopManager, repoRoot: tmp() })).toThrow(
      'handler entry file(s) missing: functions/handlers/stop-manager.ts',
    );
  });

  it('every handler entry lives under functions/handlers/ and services are unique', () => {
    const specs = Object.values(HANDLERS);
    for (const h of specs) expect(h.entry).toMatch(/^functions\/handlers\/[a-z-]+\.ts$/);
    expect(new Set(specs.map((h) => h.service)).size).toBe(specs.length);
  });
});

describe('queues and schedules', () => {
  it('a queue shape without a dead-letter queue, or with a DLQ of the other kind, is refused', () => {
    const stack = new Stack(new App(), 'S');
    expect(() => new QueueWithDeadLetter(stack, 'A', orderDlqShape)).toThrow(
      'queue shape OrderDeadLetterQueue has no dead-letter queue',
    );
    expect(
      () =>
        new QueueWithDeadLetter(stack, 'B', {
          ...orderQueueShape,
          deadLetter: { ...orderDlqShape, fifo: false },
        }),
    ).toThrow('must both be FIFO or both standard');
  });

  it('the worker input is an EventBridge scheduled event filled by Scheduler context attributes', () => {
    expect(scheduledEventInput('stop-manager')).toEqual({
      version: '0',
      id: '<aws.scheduler.execution-id>',
      'detail-type': 'Scheduled Event',
      source: 'aws.scheduler',
      time: '<aws.scheduler.scheduled-time>',
      resources: ['<aws.scheduler.schedule-arn>'],
      detail: { worker: 'stop-manager', attempt: '<aws.scheduler.attempt-number>' },
    });
  });

  it('a bad or duplicate worker name is refused', () => {
    const stack = new Stack(new App(), 'S');
    const schedules = new WorkerSchedules(stack, 'W');
    const fn = new lambda.Function(stack, 'F', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => undefined;'),
    });
    const rate = scheduler.ScheduleExpression.rate(Duration.minutes(1));
    expect(() => schedules.addWorker('Stop Manager', fn, rate, Duration.minutes(1))).toThrow(
      'worker name must be lowercase letters, digits and dashes, got "Stop Manager"',
    );
    schedules.addWorker(
      'reconciler',
      fn,
      scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      Duration.minutes(5),
    );
    expect(() => schedules.addWorker('reconciler', fn, rate, Duration.minutes(1))).toThrow(
      'worker reconciler already has a schedule',
    );
  });
});
