import { describe, expect, it } from 'vitest';
import {
  assertTransition,
  checkTransition,
  IllegalTransitionError,
  isTerminal,
  isTradeStatus,
  LIVE_STATUSES,
  OPEN_POSITION_STATUSES,
  TERMINAL_STATUSES,
  timeoutDecision,
  TRADE_STATUSES,
  TRANSITIONS,
} from '../../functions/core/lifecycle.js';
import type { LifecycleTimingOptions, TradeStatus } from '../../functions/core/lifecycle.js';

/** The spec's table (BRIEF "Lifecycle"), written out independently of the module's TRANSITIONS. */
const ALLOWED: ReadonlyArray<readonly [TradeStatus, TradeStatus]> = [
  ['PENDING', 'ENTERING'],
  ['PENDING', 'SKIPPED'],
  ['PENDING', 'CANCELLED'],
  ['PENDING', 'FAILED'],
  ['ENTERING', 'LIVE'],
  ['ENTERING', 'CANCELLED'],
  ['ENTERING', 'FAILED'],
  ['LIVE', 'WARNING'],
  ['LIVE', 'CLOSING'],
  ['LIVE', 'CLOSED'],
  ['WARNING', 'CRITICAL'],
  ['WARNING', 'CLOSING'],
  ['WARNING', 'CLOSED'],
  ['CRITICAL', 'CLOSING'],
  ['CRITICAL', 'CLOSED'],
  ['CLOSING', 'CLOSED'],
  ['CLOSED', 'POST_TRADE_MONITOR'],
  ['CLOSED', 'FINALIZED'],
  ['POST_TRADE_MONITOR', 'FINALIZED'],
  ['SKIPPED', 'FINALIZED'],
];
const isAllowed = (from: TradeStatus, to: TradeStatus) => ALLOWED.some(([f, t]) => f === from && t === to);
const successors = (from: TradeStatus) => ALLOWED.filter(([f]) => f === from).map(([, t]) => t);

describe('statuses', () => {
  it('are the twelve of the spec', () => {
    expect([...TRADE_STATUSES]).toEqual([
      'PENDING',
      'ENTERING',
      'LIVE',
      'WARNING',
      'CRITICAL',
      'CLOSING',
      'CLOSED',
      'POST_TRADE_MONITOR',
      'FINALIZED',
      'SKIPPED',
      'CANCELLED',
      'FAILED',
    ]);
  });

  it('terminal statuses are FINALIZED, CANCELLED and FAILED, and have no successors', () => {
    expect([...TERMINAL_STATUSES].sort()).toEqual(['CANCELLED', 'FAILED', 'FINALIZED']);
    for (const s of TRADE_STATUSES) {
      expect(isTerminal(s)).toBe(TRANSITIONS[s].length === 0);
    }
  });

  it('open-position and live status sets', () => {
    expect([...OPEN_POSITION_STATUSES]).toEqual(['LIVE', 'WARNING', 'CRITICAL', 'CLOSING']);
    expect([...LIVE_STATUSES]).toEqual(['LIVE', 'WARNING', 'CRITICAL']);
  });

  it('isTradeStatus accepts the twelve names only', () => {
    for (const s of TRADE_STATUSES) expect(isTradeStatus(s)).toBe(true);
    for (const v of ['live', 'OPEN', '', 3, null, undefined, {}]) expect(isTradeStatus(v)).toBe(false);
  });

  it('every status except PENDING is reachable from PENDING', () => {
    const seen = new Set<TradeStatus>(['PENDING']);
    const queue: TradeStatus[] = ['PENDING'];
    while (queue.length > 0) {
      for (const next of TRANSITIONS[queue.shift()!]) {
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    expect(seen.size).toBe(12);
  });
});

describe('transition table (all 12 × 12 pairs)', () => {
  it('the table equals the spec, edge for edge', () => {
    for (const from of TRADE_STATUSES) expect([...TRANSITIONS[from]].sort()).toEqual(successors(from).sort());
  });

  for (const from of TRADE_STATUSES) {
    it(`from ${from}`, () => {
      for (const to of TRADE_STATUSES) {
        const check = checkTransition(from, to);
        if (isAllowed(from, to)) {
          expect(check).toEqual({ ok: true });
          expect(() => assertTransition(from, to)).not.toThrow();
          continue;
        }
        const allowed = successors(from);
        const reason =
          from === to
            ? `trade is already ${from}`
            : allowed.length === 0
              ? `illegal transition ${from} → ${to}: ${from} is terminal`
              : `illegal transition ${from} → ${to}: from ${from} only ${TRANSITIONS[from].join(', ')} may follow`;
        expect(check).toEqual({ ok: false, reason });
      }
    });
  }

  it('exactly 20 of the 144 pairs are allowed', () => {
    let n = 0;
    for (const from of TRADE_STATUSES) for (const to of TRADE_STATUSES) if (checkTransition(from, to).ok) n++;
    expect(n).toBe(20);
  });

  it('specific reasons read as documented', () => {
    expect(checkTransition('LIVE', 'PENDING')).toEqual({
      ok: false,
      reason: 'illegal transition LIVE → PENDING: from LIVE only WARNING, CLOSING, CLOSED may follow',
    });
    expect(checkTransition('FINALIZED', 'LIVE')).toEqual({
      ok: false,
      reason: 'illegal transition FINALIZED → LIVE: FINALIZED is terminal',
    });
    expect(checkTransition('LIVE', 'LIVE')).toEqual({ ok: false, reason: 'trade is already LIVE' });
    expect(checkTransition('CANCELLED', 'CANCELLED')).toEqual({
      ok: false,
      reason: 'trade is already CANCELLED',
    });
  });

  it('no skipping: LIVE cannot jump to CRITICAL, PENDING cannot jump to LIVE, SKIPPED never trades', () => {
    expect(checkTransition('LIVE', 'CRITICAL').ok).toBe(false);
    expect(checkTransition('PENDING', 'LIVE').ok).toBe(false);
    expect(checkTransition('SKIPPED', 'ENTERING').ok).toBe(false);
    expect(checkTransition('SKIPPED', 'POST_TRADE_MONITOR').ok).toBe(false);
    expect(checkTransition('CLOSING', 'LIVE').ok).toBe(false);
  });
});

describe('assertTransition', () => {
  it('throws IllegalTransitionError carrying from, to and the reason', () => {
    let caught: unknown;
    try {
      assertTransition('CLOSED', 'LIVE');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(IllegalTransitionError);
    expect(caught).toBeInstanceOf(Error);
    const e = caught as IllegalTransitionError;
    expect(e.name).toBe('IllegalTransitionError');
    expect(e.from).toBe('CLOSED');
    expect(e.to).toBe('LIVE');
    expect(e.message).toBe(
      'illegal transition CLOSED → LIVE: from CLOSED only POST_TRADE_MONITOR, FINALIZED may follow',
    );
  });

  it('throws for every pair outside the table and never for one inside', () => {
    for (const from of TRADE_STATUSES) {
      for (const to of TRADE_STATUSES) {
        if (isAllowed(from, to)) expect(() => assertTransition(from, to)).not.toThrow();
        else expect(() => assertTransition(from, to)).toThrow(IllegalTransitionError);
      }
    }
  });
});

describe('timeoutDecision', () => {
  const ON: LifecycleTimingOptions = {
    warningMinutes: 180,
    criticalMinutes: 240,
    enableAutomaticTimeout: true,
  };
  const OFF: LifecycleTimingOptions = { ...ON, enableAutomaticTimeout: false };
  const FILLED = Date.UTC(2023, 3, 1, 8, 0);
  const MIN = 60_000;
  /** `minutes` after the fill, in ms; 179.99 min = 10 799 400 ms. */
  const at = (minutes: number) => FILLED + Math.round(minutes * MIN);
  const decide = (status: TradeStatus, minutes: number, opts = ON) =>
    timeoutDecision(status, FILLED, at(minutes), opts);

  it('LIVE at 179.99 min: nothing', () => {
    expect(decide('LIVE', 179.99)).toEqual({ kind: 'none' });
  });

  it('LIVE at exactly 180 min: escalate to WARNING', () => {
    expect(decide('LIVE', 180)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 180 });
  });

  it('LIVE at 239.99 min: escalate to WARNING', () => {
    expect(decide('LIVE', 239.99)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 239.99 });
  });

  it('LIVE past 240 min steps to WARNING first, never straight to CRITICAL', () => {
    expect(decide('LIVE', 240)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 240 });
    expect(decide('LIVE', 1000)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 1000 });
  });

  it('LIVE past 240 min reaches the emergency close one legal step at a time', () => {
    let status: TradeStatus = 'LIVE';
    const path: TradeStatus[] = [status];
    for (let i = 0; i < 5; i++) {
      const d = decide(status, 300);
      if (d.kind === 'emergency-close') {
        assertTransition(status, 'CLOSING');
        path.push('CLOSING');
        break;
      }
      if (d.kind !== 'escalate') break;
      assertTransition(status, d.to);
      status = d.to;
      path.push(status);
    }
    expect(path).toEqual(['LIVE', 'WARNING', 'CRITICAL', 'CLOSING']);
  });

  it('WARNING at 179.99, 180 and 239.99 min: nothing', () => {
    expect(decide('WARNING', 179.99)).toEqual({ kind: 'none' });
    expect(decide('WARNING', 180)).toEqual({ kind: 'none' });
    expect(decide('WARNING', 239.99)).toEqual({ kind: 'none' });
  });

  it('WARNING at exactly 240 min: escalate to CRITICAL', () => {
    expect(decide('WARNING', 240)).toEqual({ kind: 'escalate', to: 'CRITICAL', minutesOpen: 240 });
  });

  it('WARNING escalates to CRITICAL with or without automatic timeout', () => {
    expect(decide('WARNING', 240, OFF)).toEqual({ kind: 'escalate', to: 'CRITICAL', minutesOpen: 240 });
  });

  it('CRITICAL with automatic timeout: emergency close at 240 min and later', () => {
    expect(decide('CRITICAL', 240)).toEqual({ kind: 'emergency-close', minutesOpen: 240 });
    expect(decide('CRITICAL', 500)).toEqual({ kind: 'emergency-close', minutesOpen: 500 });
  });

  it('CRITICAL with automatic timeout closes whatever the time (CRITICAL is already past the threshold)', () => {
    expect(decide('CRITICAL', 179.99)).toEqual({ kind: 'emergency-close', minutesOpen: 179.99 });
  });

  it('CRITICAL without automatic timeout: nothing, at any time', () => {
    for (const m of [179.99, 180, 239.99, 240, 10_000])
      expect(decide('CRITICAL', m, OFF)).toEqual({ kind: 'none' });
  });

  it('LIVE escalation does not depend on automatic timeout', () => {
    expect(decide('LIVE', 180, OFF)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 180 });
    expect(decide('LIVE', 179.99, OFF)).toEqual({ kind: 'none' });
  });

  it('a clock before the fill counts as 0 minutes open', () => {
    expect(timeoutDecision('LIVE', FILLED, FILLED - 5 * MIN, ON)).toEqual({ kind: 'none' });
    expect(timeoutDecision('CRITICAL', FILLED, FILLED - 5 * MIN, ON)).toEqual({
      kind: 'emergency-close',
      minutesOpen: 0,
    });
  });

  it('follows configured thresholds', () => {
    const o: LifecycleTimingOptions = {
      warningMinutes: 30,
      criticalMinutes: 60,
      enableAutomaticTimeout: true,
    };
    expect(decide('LIVE', 29.99, o)).toEqual({ kind: 'none' });
    expect(decide('LIVE', 30, o)).toEqual({ kind: 'escalate', to: 'WARNING', minutesOpen: 30 });
    expect(decide('WARNING', 60, o)).toEqual({ kind: 'escalate', to: 'CRITICAL', minutesOpen: 60 });
  });

  it('statuses without an open live position never time out', () => {
    for (const status of TRADE_STATUSES) {
      if (status === 'LIVE' || status === 'WARNING' || status === 'CRITICAL') continue;
      for (const m of [0, 180, 240, 100_000]) expect(decide(status, m)).toEqual({ kind: 'none' });
    }
  });
});
