/** The ASL validated with asl-validator; intake bad requests; the lifecycle-task and evaluate input checks. */
import aslValidator from 'asl-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SQSEvent } from 'aws-lambda';
import { handler as evaluate } from '../../functions/handlers/evaluate.js';
import { handler as intakeHttp } from '../../functions/handlers/intake-http.js';
import { handler as intakeSqs } from '../../functions/handlers/intake-sqs.js';
import { handler as lifecycleTask } from '../../functions/handlers/lifecycle-task.js';
import { loadTradeLifecycleDefinition } from '../../local/runtime/sfn.js';
import { btcSignal, startLifecycle } from '../support/local-sfn.js';
import type { LifecycleEnv } from '../support/local-sfn.js';
import { post } from './support.js';

describe('the state machine definition', () => {
  it('is valid ASL (asl-validator 4, JSONPath)', () => {
    const def = loadTradeLifecycleDefinition();
    const res = aslValidator(structuredClone(def));
    expect(res.errors).toEqual([]);
    expect(res.isValid).toBe(true);
  });

  it('uses only the three placeholders and the two callback integrations', () => {
    const text = JSON.stringify(loadTradeLifecycleDefinition());
    const placeholders = [...new Set(text.match(/\$\{\w+\}/g))].sort();
    expect(placeholders).toEqual([
      '${EvaluateFunctionArn}',
      '${LifecycleTaskFunctionArn}',
      '${OrderQueueUrl}',
    ]);
    const states = loadTradeLifecycleDefinition().States as Record<
      string,
      { Resource?: string; TimeoutSeconds?: number }
    >;
    expect(states.SubmitEntry?.Resource).toBe('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
    expect(states.SubmitExit?.Resource).toBe('arn:aws:states:::sqs:sendMessage.waitForTaskToken');
    expect(states.AwaitExit?.Resource).toBe('arn:aws:states:::lambda:invoke.waitForTaskToken');
    expect(states.AwaitExit?.TimeoutSeconds).toBe((240 + 15) * 60);
    expect(text).not.toContain('JSONata');
  });

  it('every Task retries transient errors with full jitter and every error path reaches EnsureFlat', () => {
    const states = loadTradeLifecycleDefinition().States as Record<string, Record<string, unknown>>;
    for (const [name, s] of Object.entries(states)) {
      if (s.Type !== 'Task') continue;
      const retry = s.Retry as { JitterStrategy?: string; BackoffRate?: number }[];
      expect(retry.length, name).toBeGreaterThan(0);
      for (const r of retry) expect([name, r.JitterStrategy, r.BackoffRate]).toEqual([name, 'FULL', 2]);
      const catchers = s.Catch as { Next: string }[];
      const next = catchers.map((c) => c.Next);
      if (name === 'EnsureFlat' || name === 'MarkFailed') continue;
      expect(next, name).toContain('EnsureFlat');
    }
  });
});

describe('intake', () => {
  let env: LifecycleEnv;
  beforeAll(async () => {
    env = await startLifecycle();
  });
  afterAll(async () => {
    await env.stop();
  });

  it('400 with every reason for an invalid signal, nothing written, no execution', async () => {
    const res = await intakeHttp(post(btcSignal('bad-1', { side: 'sideways', rr: '-1', stop: {} })));
    expect(res.statusCode).toBe(400);
    const errors = (JSON.parse(res.body ?? '{}') as { errors: string[] }).errors;
    expect(errors.some((e) => e.startsWith('side:'))).toBe(true);
    expect(errors.some((e) => e.startsWith('rr:'))).toBe(true);
    expect(errors.some((e) => e.startsWith('stop'))).toBe(true);
    expect(await env.store.getTrade('demo.bad-1')).toBeNull();
    expect(env.sfn.execution('demo.bad-1')).toBeUndefined();
  });

  it('400 for a body that is not JSON, and for an unknown account', async () => {
    const notJson = await intakeHttp(post('{nope', true));
    expect(notJson.statusCode).toBe(400);
    expect(notJson.body).toContain('not JSON');
    const unknown = await intakeHttp(post(btcSignal('bad-2', { accountId: 'other' })));
    expect(unknown.statusCode).toBe(400);
    expect(unknown.body).toContain('unknown account');
    expect(await env.store.getTrade('other.bad-2')).toBeNull();
  });

  it('404 for another route and 405 for another method', async () => {
    const e = post(btcSignal('x'));
    expect((await intakeHttp({ ...e, rawPath: '/other' })).statusCode).toBe(404);
    expect(
      (await intakeHttp({ ...e, requestContext: { http: { method: 'GET' } } } as never)).statusCode,
    ).toBe(405);
  });

  it('SQS intake: an invalid signal is counted and not retried; a valid one starts its execution', async () => {
    const record = (id: string, body: string) => ({
      messageId: id,
      body,
      attributes: {},
      messageAttributes: {},
    });
    const event = {
      Records: [
        record('m1', 'not json'),
        record('m2', JSON.stringify(btcSignal('sqs-1', { signalId: 'bad id!' }))),
        record('m3', JSON.stringify(btcSignal('sqs-2'))),
      ],
    } as unknown as SQSEvent;
    const before = env.metrics.values('SignalsRejected').length;
    const res = await intakeSqs(event);
    expect(res.batchItemFailures).toEqual([]);
    expect(env.metrics.values('SignalsRejected').length - before).toBe(2);
    expect(env.sfn.execution('demo.sqs-2')).toBeDefined();
    expect(await env.store.getTrade('demo.sqs-1')).toBeNull();
    await env.sfn.waitForTask('demo.sqs-2', 'AwaitExit');
  });

  it('lifecycle-task and Evaluate reject malformed input with InvalidInput', async () => {
    await expect(lifecycleTask({ task: 'teleport', tradeId: 'x' })).rejects.toMatchObject({
      name: 'InvalidInput',
    });
    await expect(lifecycleTask({ task: 'armLive', tradeId: 'x' })).rejects.toThrow(/taskToken/);
    await expect(evaluate({})).rejects.toMatchObject({ name: 'InvalidInput' });
  });
});
