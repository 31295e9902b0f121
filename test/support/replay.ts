/**
 * Replays a trade's audit log from CREATED and compares it with the state item: the check every
 * consistency test ends with.
 */
import { expect } from 'vitest';
import type { JsonMap, TradeEvent, TradeRecord } from '../../functions/ports/trade-store.js';
import { checkTransition } from '../../functions/core/lifecycle.js';

/** The state the events say the trade is in. */
export function replay(events: TradeEvent[]): {
  status: string;
  version: number;
  data: JsonMap;
  commands: Record<string, number>;
} {
  const first = events[0];
  if (!first || first.type !== 'CREATED') throw new Error('log does not start with CREATED');
  let status = first.toStatus;
  const data: JsonMap = { ...first.data };
  const commands: Record<string, number> = {};
  if (first.commandId) commands[first.commandId] = 1;
  events.forEach((e, i) => {
    if (e.version !== i + 1) throw new Error(`gap at ${i + 1}: found ${e.version}`);
    if (i === 0) return;
    if (e.fromStatus !== status)
      throw new Error(`event ${e.version} claims from ${e.fromStatus}, state was ${status}`);
    if (e.toStatus !== status && !checkTransition(status, e.toStatus).ok) {
      throw new Error(`event ${e.version}: ${status} → ${e.toStatus} is illegal`);
    }
    status = e.toStatus;
    Object.assign(data, e.data);
    if (e.commandId) commands[e.commandId] = e.version;
  });
  return { status, version: events.length, data, commands };
}

/** Asserts the state item equals the replay of its events. */
export function expectConsistent(trade: TradeRecord | null, events: TradeEvent[]): void {
  expect(trade).not.toBeNull();
  const r = replay(events);
  expect(trade?.status).toBe(r.status);
  expect(trade?.version).toBe(r.version);
  expect(trade?.data).toEqual(r.data);
  expect(trade?.commands).toEqual(r.commands);
}
