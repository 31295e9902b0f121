/** Helpers of the workflow tests: HTTP events, the worker handlers for one tick, audit-event types. */
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { handler as lifecycleWatch } from '../../functions/handlers/lifecycle-watch.js';
import { handler as milestoneChecker } from '../../functions/handlers/milestone-checker.js';
import { handler as stopManager } from '../../functions/handlers/stop-manager.js';
import type { LifecycleEnv } from '../support/local-sfn.js';

/** An API Gateway v2 POST /signals event. */
export function post(body: unknown, raw = false): APIGatewayProxyEventV2 {
  return {
    rawPath: '/signals',
    body: raw ? (body as string) : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST' } },
  } as unknown as APIGatewayProxyEventV2;
}

/** Runs one tick of each scheduled worker handler (stop manager, milestones, lifecycle watch). */
export async function tickWorkers(): Promise<void> {
  await stopManager({ ticks: 1 });
  await milestoneChecker({ ticks: 1 });
  await lifecycleWatch({ ticks: 1 });
}

/** The audit-event types of a trade, oldest first. */
export async function eventTypes(env: LifecycleEnv, tradeId: string): Promise<string[]> {
  return (await env.store.listEvents(tradeId)).map((e) => e.type);
}

/** Sets the price and advances the clock by `ms` first. */
export function move(env: LifecycleEnv, price: string, ms = 10_000): void {
  env.clock.advance(ms);
  env.paper.setPrice('BTC/USDT:USDT', price);
}
