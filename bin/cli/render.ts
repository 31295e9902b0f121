/**
 * Readable output of the CLI: the API's JSON answers as plain-text tables (cli-table3, no colours, so the
 * output is the same on a terminal and in a pipe). `--json` bypasses all of this and prints the raw JSON.
 *
 * Renderers read the answers tolerantly: a field that is absent shows as `-`, a list may come bare or
 * wrapped (`{trades: [...]}`), and anything not recognised is shown as a key/value table rather than lost.
 */
import Table from 'cli-table3';

type Obj = Record<string, unknown>;

const STYLE = { head: [] as string[], border: [] as string[] };

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `obj.a.b.c` for a dotted path, or undefined. */
export function pick(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const key of path.split('.')) {
    if (!isObj(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** The first path that has a value (not undefined, not null). */
function first(obj: unknown, ...paths: string[]): unknown {
  for (const p of paths) {
    const v = pick(obj, p);
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
}

/** Epoch ms as `YYYY-MM-DD HH:MM:SSZ` (UTC). */
export function fmtTime(ms: unknown): string {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return fmt(ms);
  return new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
}

/** Seconds as `1h 02m 03s` / `2m 03s` / `3s`. */
export function fmtDuration(seconds: unknown): string {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return fmt(seconds);
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(r)}s`;
  if (m > 0) return `${m}m ${pad(r)}s`;
  return `${r}s`;
}

/** A ratio (0.25) as a percentage (`25.00 %`). */
export function fmtPct(ratio: unknown): string {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio)) return fmt(ratio);
  return `${(ratio * 100).toFixed(2)} %`;
}

/** A non-money number with at most 4 decimals. */
function fmtRatio(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return fmt(v);
  return String(Number(v.toFixed(4)));
}

/** Any value as one cell: `-` for absent/null, strings as they are, objects as compact JSON. */
export function fmt(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** A two-column (field, value) table. */
export function kvTable(rows: ReadonlyArray<readonly [string, string]>): string {
  const t = new Table({ style: STYLE });
  for (const [k, v] of rows) t.push({ [k]: v });
  return t.toString();
}

/** A table with a header row. */
export function listTable(head: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const t = new Table({ head: [...head], style: STYLE });
  for (const r of rows) t.push([...r]);
  return t.toString();
}

/** Every top-level field of an object, as a key/value table (nested values as compact JSON). */
export function renderObject(body: unknown): string {
  if (!isObj(body)) return fmt(body);
  const rows = Object.entries(body).map(([k, v]) => [k, /At$/.test(k) ? fmtTime(v) : fmt(v)] as const);
  return rows.length === 0 ? '(empty)' : kvTable(rows);
}

/** The list in an answer: the answer itself when it is an array, else its `key` (or `items`) array. */
function listOf(body: unknown, key: string): unknown[] | null {
  if (Array.isArray(body)) return body as unknown[];
  const v = first(body, key, 'items');
  return Array.isArray(v) ? (v as unknown[]) : null;
}

// ---- trades ----

/** A trade's scope label: `global`, or the account id of `{accountId}`. */
function scopeOf(scope: unknown): string {
  if (scope === 'global' || pick(scope, 'global') === true) return 'global';
  return fmt(first(scope, 'accountId') ?? scope);
}

const TRADE_COLUMNS: ReadonlyArray<readonly [string, (t: unknown) => string]> = [
  ['Trade', (t) => fmt(pick(t, 'tradeId'))],
  ['Account', (t) => fmt(pick(t, 'accountId'))],
  ['Symbol', (t) => fmt(pick(t, 'symbol'))],
  ['Side', (t) => fmt(first(t, 'side', 'data.side'))],
  ['Status', (t) => fmt(pick(t, 'status'))],
  [
    'Qty',
    (t) =>
      fmt(first(t, 'remainingQty', 'entry.filledQty', 'data.position.remainingQty', 'data.entry.filledQty')),
  ],
  ['Entry', (t) => fmt(first(t, 'entry.avgPrice', 'data.entry.avgPrice'))],
  ['Stop', (t) => fmt(first(t, 'stop', 'data.position.stop'))],
  ['PnL', (t) => fmt(first(t, 'realizedPnl', 'data.settlement.realizedPnl'))],
  ['Exit', (t) => fmt(first(t, 'exitReason', 'data.exit.reason'))],
  ['Created', (t) => fmtTime(pick(t, 'createdAt'))],
  ['Closed', (t) => fmtTime(pick(t, 'closedAt'))],
];

function tradesTable(trades: readonly unknown[]): string {
  return listTable(
    TRADE_COLUMNS.map(([h]) => h),
    trades.map((t) => TRADE_COLUMNS.map(([, f]) => f(t))),
  );
}

/** `trades`: the open trades, then the recently closed ones (`{open, recent}`), one row per trade. */
export function renderTrades(body: unknown): string {
  const open = listOf(pick(body, 'open'), 'open');
  const recent = listOf(pick(body, 'recent'), 'recent');
  if (open === null && recent === null) {
    const trades = listOf(body, 'trades');
    if (trades === null) return renderObject(body);
    return trades.length === 0 ? 'No trades.' : `${tradesTable(trades)}\n${trades.length} trade(s)`;
  }
  const out: string[] = [];
  for (const [title, list] of [
    ['Open', open ?? []],
    ['Recently closed', recent ?? []],
  ] as const) {
    out.push(list.length === 0 ? `${title}: none.` : `${title} (${list.length}):\n${tradesTable(list)}`);
  }
  return out.join('\n');
}

/** `trade <id>`: the trade's fields, its audit events, then its order intents. */
export function renderTrade(body: unknown): string {
  const trade = isObj(body) && isObj(body.trade) ? body.trade : body;
  if (!isObj(trade)) return fmt(body);
  const rows: Array<readonly [string, string]> = [
    ['trade', fmt(trade.tradeId)],
    ['account', fmt(trade.accountId)],
    ['symbol', fmt(trade.symbol)],
    ['status', fmt(trade.status)],
    ['version', fmt(trade.version)],
    ['created', fmtTime(trade.createdAt)],
    ['updated', fmtTime(trade.updatedAt)],
  ];
  const data = isObj(trade.data) ? trade.data : {};
  for (const [k, v] of Object.entries(data)) rows.push([`data.${k}`, fmt(v)]);
  for (const k of ['milestones', 'shadowMilestones'] as const) {
    if (isObj(trade[k]) && Object.keys(trade[k]).length > 0) rows.push([k, fmt(trade[k])]);
  }
  const out = [kvTable(rows)];
  const events = listOf(pick(body, 'events'), 'events');
  if (events !== null) {
    out.push(
      events.length === 0
        ? 'Events: none.'
        : `Events (${events.length}):\n` +
            listTable(
              ['Version', 'At', 'Type', 'From', 'To', 'Command'],
              events.map((e) => [
                fmt(pick(e, 'version')),
                fmtTime(pick(e, 'at')),
                fmt(pick(e, 'type')),
                fmt(pick(e, 'fromStatus')),
                fmt(pick(e, 'toStatus')),
                fmt(pick(e, 'commandId')),
              ]),
            ),
    );
  }
  const intents = listOf(pick(body, 'orderIntents'), 'orderIntents');
  if (intents !== null && intents.length > 0) {
    out.push(
      `Orders (${intents.length}):\n` +
        listTable(
          ['Client order id', 'Purpose', 'Status', 'Exchange id', 'Created'],
          intents.map((o) => [
            fmt(pick(o, 'clientOrderId')),
            fmt(pick(o, 'purpose')),
            fmt(pick(o, 'status')),
            fmt(pick(o, 'exchangeOrderId')),
            fmtTime(pick(o, 'createdAt')),
          ]),
        ),
    );
  }
  return out.join('\n');
}

// ---- reconciliation ----

function renderReconReport(r: unknown): string {
  const out: string[] = [];
  const dry = pick(r, 'dryRun');
  const awaiting = pick(r, 'awaitingExecution');
  const rows: Array<readonly [string, string]> = [
    ['account', fmt(pick(r, 'accountId'))],
    ['run', fmt(pick(r, 'runId'))],
    ['mode', dry === true ? 'dry run (nothing changed)' : dry === false ? 'apply' : '-'],
    ['at', fmtTime(pick(r, 'at'))],
    ['mismatches', fmt(pick(r, 'mismatches'))],
  ];
  if (pick(r, 'busy') !== undefined) rows.push(['busy (another run held the lease)', fmt(pick(r, 'busy'))]);
  if (Array.isArray(awaiting) && awaiting.length > 0) rows.push(['awaiting execution', fmt(awaiting)]);
  out.push(kvTable(rows));
  const findings = listOf(pick(r, 'findings'), 'findings') ?? [];
  out.push(
    findings.length === 0
      ? 'Findings: none.'
      : `Findings (${findings.length}):\n` +
          listTable(
            ['Finding', 'Symbol', 'Trade', 'Detail'],
            findings.map((f) => [
              fmt(pick(f, 'kind')),
              fmt(pick(f, 'symbol')),
              fmt(pick(f, 'tradeId')),
              fmt(pick(f, 'detail')),
            ]),
          ),
  );
  const actions = listOf(pick(r, 'actions'), 'actions') ?? [];
  if (actions.length > 0) {
    out.push(
      `Actions (${actions.length}):\n` +
        listTable(
          ['Action', 'Trade', 'Status', 'Detail'],
          actions.map((a) => [
            fmt(first(a, 'action.type', 'action')),
            fmt(pick(a, 'action.tradeId')),
            fmt(pick(a, 'status')),
            fmt(pick(a, 'detail')),
          ]),
        ),
    );
  }
  return out.join('\n');
}

/**
 * `reconcile`: the run's totals, then per account its report (the run, its findings and its actions) or
 * the error that stopped it. Accepts the handler's `{dryRun, accounts, mismatches, runs, failed}` or bare reports.
 */
export function renderReconcile(body: unknown): string {
  const runs = listOf(pick(body, 'runs'), 'runs');
  if (runs === null) {
    const reports = listOf(body, 'reports') ?? [isObj(body) && isObj(body.report) ? body.report : body];
    return reports.map(renderReconReport).join('\n\n');
  }
  const dry = pick(body, 'dryRun');
  const failed = pick(body, 'failed');
  const out = [
    kvTable([
      ['mode', dry === true ? 'dry run (nothing changed)' : dry === false ? 'apply' : '-'],
      [
        'accounts',
        fmt(
          Array.isArray(pick(body, 'accounts'))
            ? (pick(body, 'accounts') as unknown[]).join(', ')
            : undefined,
        ),
      ],
      ['mismatches', fmt(pick(body, 'mismatches'))],
      ['failed', Array.isArray(failed) && failed.length > 0 ? failed.join(', ') : 'none'],
    ]),
  ];
  for (const run of runs) {
    const error = pick(run, 'error');
    out.push(
      error !== undefined
        ? `Account ${fmt(pick(run, 'accountId'))}: FAILED — ${fmt(error)}`
        : `Account ${fmt(pick(run, 'accountId'))}:\n${renderReconReport(pick(run, 'report'))}`,
    );
  }
  return out.join('\n\n');
}

/** Accounts whose reconciliation failed, from the answer's `failed` list (empty when none or absent). */
export function failedAccounts(body: unknown): string[] {
  const failed = pick(body, 'failed');
  return Array.isArray(failed) ? failed.map((x) => fmt(x)) : [];
}

// ---- trading state ----

/** Rows of trading-state records (`{scope, value, reason, updatedBy, updatedAt}`). */
function stateTable(records: readonly unknown[]): string {
  return listTable(
    ['Scope', 'State', 'Reason', 'Updated by', 'Updated at'],
    records.map((r) => [
      scopeOf(pick(r, 'scope')),
      fmt(first(r, 'value', 'state')),
      fmt(pick(r, 'reason')),
      fmt(pick(r, 'updatedBy')),
      fmtTime(pick(r, 'updatedAt')),
    ]),
  );
}

/** `trading-state get`: the global record and each account's (`{global, accounts: [...]}`). */
export function renderTradingState(body: unknown): string {
  const src = isObj(body) && isObj(body.tradingState) ? body.tradingState : body;
  if (!isObj(src) || src.global === undefined) return renderObject(src);
  const accounts = Array.isArray(src.accounts) ? (src.accounts as unknown[]) : [];
  return stateTable([src.global, ...accounts]);
}

/** `trading-state set`: the change (previous → current), the audit id, and the flatten outcomes. */
export function renderTradingStateChange(body: unknown): string {
  const current = pick(body, 'current');
  if (current === undefined) return renderObject(body);
  const previous = pick(body, 'previous');
  const out = [
    kvTable([
      ['scope', scopeOf(pick(current, 'scope'))],
      ['state', `${fmt(pick(previous, 'value'))} → ${fmt(pick(current, 'value'))}`],
      ['reason', fmt(pick(current, 'reason'))],
      ['updated by', fmt(pick(current, 'updatedBy'))],
      ['updated at', fmtTime(pick(current, 'updatedAt'))],
      ['audit id', fmt(pick(body, 'auditId'))],
    ]),
  ];
  const flatten = listOf(pick(body, 'flatten'), 'flatten');
  if (flatten !== null) out.push(flattenTable(flatten));
  return out.join('\n');
}

function flattenTable(outcomes: readonly unknown[]): string {
  if (outcomes.length === 0) return 'Flatten: no open position.';
  return (
    `Flatten (${outcomes.length}):\n` +
    listTable(
      ['Trade', 'Outcome', 'Detail'],
      outcomes.map((o) => [fmt(pick(o, 'tradeId')), fmt(pick(o, 'outcome')), fmt(pick(o, 'detail'))]),
    )
  );
}

// ---- analytics ----

/** `report`: per account, the performance metrics over the period, then milestone hit rates. */
export function renderReport(body: unknown): string {
  const reports = listOf(body, 'reports') ?? listOf(pick(body, 'accounts'), 'accounts') ?? [body];
  if (reports.length === 0) return 'No accounts.';
  return reports.map(renderOneReport).join('\n\n');
}

function renderOneReport(p: unknown): string {
  const r = isObj(p) && isObj(p.report) ? p.report : p;
  if (!isObj(r) || r.trades === undefined) return renderObject(p);
  const from = pick(p, 'from');
  const tradeRef = (t: unknown): string =>
    t === null || t === undefined
      ? '-'
      : `${fmt(pick(t, 'realizedPnl'))} (${fmt(pick(t, 'tradeId'))} ${fmt(pick(t, 'symbol'))})`;
  const equity = pick(p, 'startingEquity');
  const unsettled = pick(p, 'unsettled');
  const rows: Array<readonly [string, string]> = [
    ['account', fmt(pick(p, 'accountId') ?? 'all')],
    ['period', fmt(pick(p, 'period'))],
    ['from', from === null ? 'beginning' : fmtTime(from)],
    ['to', fmtTime(pick(p, 'to'))],
  ];
  if (equity !== undefined) {
    const source = pick(p, 'equitySource');
    rows.push(['starting equity', `${fmt(equity)}${source === undefined ? '' : ` (${fmt(source)})`}`]);
  }
  rows.push(
    ['trades', fmt(r.trades)],
    ['wins / losses / breakeven', `${fmt(r.wins)} / ${fmt(r.losses)} / ${fmt(r.breakeven)}`],
    ['win rate', fmtPct(r.winRate)],
    ['net PnL', fmt(r.netPnl)],
    ['gross profit', fmt(r.grossProfit)],
    ['gross loss', fmt(r.grossLoss)],
    ['profit factor', r.profitFactor === null ? '- (no losses)' : fmtRatio(r.profitFactor)],
    ['expectancy', fmt(r.expectancy)],
    ['average win', fmt(r.avgWin)],
    ['average loss', fmt(r.avgLoss)],
    ['Sharpe (daily, ×√365)', fmtRatio(r.sharpe)],
    ['Sortino (daily, ×√365)', fmtRatio(r.sortino)],
    ['max drawdown', fmt(pick(r, 'maxDrawdown.absolute'))],
    ['max drawdown (relative)', fmtPct(pick(r, 'maxDrawdown.relative'))],
    ['average holding time', fmtDuration(r.avgHoldingSeconds)],
    ['best trade', tradeRef(r.best)],
    ['worst trade', tradeRef(r.worst)],
  );
  if (Array.isArray(unsettled) && unsettled.length > 0) {
    rows.push(['closed, not settled yet (left out)', unsettled.map((x) => fmt(x)).join(', ')]);
  }
  const out = [kvTable(rows)];
  if (isObj(r.milestones) && Object.keys(r.milestones).length > 0) {
    const ms = Object.values(r.milestones).sort(
      (a, b) => Number(pick(a, 'threshold')) - Number(pick(b, 'threshold')),
    );
    out.push(
      listTable(
        ['Milestone', 'Hits', 'Hit rate', 'Median time'],
        ms.map((m) => [
          `+${fmt(pick(m, 'threshold'))} %`,
          fmt(pick(m, 'hits')),
          fmtPct(pick(m, 'hitRate')),
          fmtDuration(pick(m, 'medianSeconds')),
        ]),
      ),
    );
  }
  return out.join('\n');
}

// ---- health ----

/** `health`: status, the workers' last ticks, the breakers, the trading states, and every problem. */
export function renderHealth(body: unknown): string {
  if (!isObj(body)) return fmt(body);
  const out = [
    kvTable([
      ['status', fmt(body.status)],
      ['at', fmtTime(body.at)],
    ]),
  ];
  const workers = listOf(body.workers, 'workers');
  if (workers !== null && workers.length > 0) {
    out.push(
      `Workers:\n` +
        listTable(
          ['Worker', 'Last tick', 'Age', 'Stale', 'Ticks', 'Duration ms'],
          workers.map((w) => [
            fmt(pick(w, 'worker')),
            fmtTime(pick(w, 'lastTickAt')),
            typeof pick(w, 'ageMs') === 'number' ? fmtDuration((pick(w, 'ageMs') as number) / 1000) : '-',
            pick(w, 'stale') === true ? 'STALE' : 'no',
            fmt(pick(w, 'ticks')),
            fmt(pick(w, 'durationMs')),
          ]),
        ),
    );
  }
  const breakers = listOf(body.breakers, 'breakers');
  if (breakers !== null && breakers.length > 0) {
    out.push(
      `Circuit breakers:\n` +
        listTable(
          ['Scope', 'State', 'Failures', 'Opened at'],
          breakers.map((b) => [
            fmt(pick(b, 'scope')),
            fmt(pick(b, 'state')),
            fmt(pick(b, 'failures')),
            fmtTime(pick(b, 'openedAt')),
          ]),
        ),
    );
  }
  if (body.tradingState !== undefined) out.push(`Trading state:\n${renderTradingState(body.tradingState)}`);
  const problems = listOf(body.problems, 'problems');
  if (problems !== null) {
    out.push(
      problems.length === 0
        ? 'Problems: none.'
        : `Problems:\n${problems.map((p) => `  - ${fmt(p)}`).join('\n')}`,
    );
  }
  return out.join('\n');
}
