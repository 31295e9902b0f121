/**
 * The operator HTTP API (API Gateway HTTP API, payload v2, IAM auth): one handler for every route. The
 * routes, their requests, responses and errors are in docs/operations.md ("HTTP API"). A bad request gets
 * a 4xx `{errors: [...]}` naming every problem and changes nothing; `POST /signals` is the intake-http
 * handler itself.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { z } from 'zod';
import { D, type Decimal } from '../core/decimal.js';
import { InvalidInputError } from '../ports/errors.js';
import {
  accountPerformance,
  accountsIn,
  forceExit,
  healthView,
  lifecycleTimeouts,
  listTrades,
  OperationError,
  parsePeriod,
  parseStatus,
  performanceJson,
  positionsHealth,
  reloadConfig,
  setTradingState,
  tradeDetail,
  type Actor,
} from '../services/operations.js';
import { toJson } from '../services/reconciler.js';
import { handler as intakeHttp } from './intake-http.js';
import { getContext, type HandlerContext } from './shared/context.js';
import { reconcileAccounts } from './shared/reconcile.js';
import { logger } from './shared/powertools.js';

type Result = APIGatewayProxyStructuredResultV2;
type Query = Record<string, string>;

function json(statusCode: number, body: unknown): Result {
  return {
    statusCode,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(toJson(body)),
  };
}

/** A request the API refuses: HTTP status and every reason. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    readonly headers: Record<string, string> = {},
  ) {
    super(errors.join('; '));
  }
}

interface Request {
  ctx: HandlerContext;
  params: Record<string, string>;
  query: Query;
  body: () => unknown;
  actor: Actor;
}

interface Route {
  method: 'GET' | 'POST';
  /** Path pattern; `{name}` matches one segment. */
  path: string;
  /** Query parameters the route accepts (any other is a 400). */
  query: readonly string[];
  run: (req: Request) => Promise<Result>;
}

const ID_RE = /^[\x21-\x7e]{1,128}$/;

function limitOf(q: Query, dflt: number, max: number): number {
  if (q.limit === undefined) return dflt;
  const n = Number(q.limit);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new HttpError(400, [`limit: must be an integer from 1 to ${max}, got ${JSON.stringify(q.limit)}`]);
  return n;
}

async function accountsOf(ctx: HandlerContext, q: Query): Promise<string[]> {
  return accountsIn(await ctx.config.getConfig(), q.accountId);
}

function parseBody<T>(schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw);
  if (!r.success)
    throw new HttpError(
      400,
      r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`),
    );
  return r.data;
}

const exitSchema = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() });
const tradingStateSchema = z.strictObject({
  scope: z.string().min(1).max(64),
  state: z.enum(['ACTIVE', 'REDUCING', 'HALTED']),
  flatten: z.boolean().optional(),
  reason: z.string().trim().min(1, 'a reason is required (it is audited)').max(1000),
});

const reconcileSchema = z
  .strictObject({
    accountId: z.string().min(1).max(64).optional(),
    apply: z.boolean().optional(),
    dryRun: z.boolean().optional(),
  })
  .refine((b) => !(b.apply === true && b.dryRun === true), 'apply and dryRun contradict each other');

/** The routes (method, path, accepted query parameters). */
export const ROUTES: readonly Route[] = [
  {
    method: 'GET',
    path: '/health',
    query: [],
    run: async ({ ctx }) => json(200, await healthView(ctx, await accountsOf(ctx, {}))),
  },
  {
    method: 'GET',
    path: '/trades',
    query: ['accountId', 'status', 'limit'],
    run: async ({ ctx, query }) => {
      const accountIds = await accountsOf(ctx, query);
      const status = parseStatus(query.status);
      const limit = limitOf(query, 20, 200);
      return json(200, await listTrades(ctx, { accountIds, limit, ...(status ? { status } : {}) }));
    },
  },
  {
    method: 'GET',
    path: '/trades/{id}',
    query: [],
    run: async ({ ctx, params }) => json(200, await tradeDetail(ctx, params.id ?? '')),
  },
  {
    method: 'POST',
    path: '/trades/{id}/exit',
    query: [],
    run: async ({ ctx, params, body, actor }) => {
      const b = parseBody(exitSchema, body() ?? {});
      const out = await forceExit(
        ctx,
        { tradeId: params.id ?? '', reason: b.reason ?? 'operator force exit' },
        actor,
      );
      return json(202, out);
    },
  },
  {
    method: 'GET',
    path: '/analytics/performance',
    query: ['period', 'accountId', 'startingEquity'],
    run: async ({ ctx, query }) => {
      const period = parsePeriod(query.period);
      const accountIds = await accountsOf(ctx, query);
      let startingEquity: Decimal | undefined;
      if (query.startingEquity !== undefined) {
        const ok = /^\d+(\.\d+)?$/.test(query.startingEquity);
        startingEquity = ok ? new D(query.startingEquity) : undefined;
        if (!startingEquity?.gt(0))
          throw new HttpError(400, [
            `startingEquity: must be a positive decimal, got ${JSON.stringify(query.startingEquity)}`,
          ]);
      }
      const now = ctx.clock.now();
      const accounts = [];
      for (const accountId of accountIds)
        accounts.push(
          performanceJson(
            await accountPerformance(ctx, {
              accountId,
              period,
              now,
              ...(startingEquity ? { startingEquity } : {}),
            }),
          ),
        );
      return json(200, { period, at: now, accounts });
    },
  },
  {
    method: 'GET',
    path: '/positions/health',
    query: ['accountId'],
    run: async ({ ctx, query }) => json(200, await positionsHealth(ctx, await accountsOf(ctx, query))),
  },
  {
    method: 'GET',
    path: '/lifecycle/timeouts',
    query: ['accountId'],
    run: async ({ ctx, query }) => json(200, await lifecycleTimeouts(ctx, await accountsOf(ctx, query))),
  },
  {
    method: 'GET',
    path: '/reconciliation/reports',
    query: ['accountId', 'limit'],
    run: async ({ ctx, query }) => {
      const accountIds = await accountsOf(ctx, query);
      const limit = limitOf(query, 10, 100);
      const reports = [];
      for (const accountId of accountIds)
        reports.push(...(await ctx.store.listReconReports(accountId, { limit })));
      return json(200, { reports });
    },
  },
  {
    method: 'GET',
    path: '/reports',
    query: ['accountId', 'limit'],
    run: async ({ ctx, query }) => {
      const accountIds = await accountsOf(ctx, query);
      const limit = limitOf(query, 7, 100);
      const reports = [];
      for (const accountId of accountIds)
        reports.push(...(await ctx.store.listPerformanceReports(accountId, { limit })));
      return json(200, { reports });
    },
  },
  {
    method: 'GET',
    path: '/audit',
    query: ['limit'],
    run: async ({ ctx, query }) =>
      json(200, { entries: await ctx.store.listAudit({ limit: limitOf(query, 50, 500) }) }),
  },
  {
    method: 'POST',
    path: '/trading-state',
    query: [],
    run: async ({ ctx, body, actor }) => {
      const b = parseBody(tradingStateSchema, body());
      const r = await setTradingState(
        ctx,
        { scope: b.scope, state: b.state, flatten: b.flatten ?? false, reason: b.reason },
        actor,
      );
      return json(200, r);
    },
  },
  {
    // The console test events over HTTP: {"dryRun": true} (default) or {"accountId": "…", "apply": true}.
    method: 'POST',
    path: '/reconcile',
    query: [],
    run: async ({ ctx, body, actor }) => {
      const b = parseBody(reconcileSchema, body() ?? {});
      const dryRun = !(b.apply === true || b.dryRun === false);
      const accountIds = accountsIn(await ctx.config.getConfig(), b.accountId);
      const result = await reconcileAccounts(ctx, accountIds, dryRun);
      if (!dryRun) {
        const at = ctx.clock.now();
        await ctx.store.appendAudit({
          auditId: `reconcile-${at}`,
          at,
          actor: actor.id.slice(0, 512),
          action: 'RECONCILE_APPLY',
          target: b.accountId ?? 'all accounts',
          detail: { accounts: accountIds, mismatches: result.mismatches },
        });
      }
      return json(200, toJson(result));
    },
  },
  {
    method: 'POST',
    path: '/config/reload',
    query: [],
    run: async ({ ctx, actor }) => json(200, await reloadConfig(ctx, actor)),
  },
];

function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/');
  const s = path.split('/');
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const seg = p[i]!;
    const got = s[i]!;
    if (seg.startsWith('{')) {
      let v: string;
      try {
        v = decodeURIComponent(got);
      } catch {
        return null;
      }
      if (!ID_RE.test(v)) return null;
      params[seg.slice(1, -1)] = v;
    } else if (seg !== got) return null;
  }
  return params;
}

/** Who called: the IAM caller of the signed request (API Gateway's IAM authorizer context). */
function actorOf(event: APIGatewayProxyEventV2): Actor {
  const rc = event.requestContext as unknown as {
    requestId?: string;
    authorizer?: { iam?: { userArn?: string; callerId?: string } };
  };
  const iam = rc?.authorizer?.iam;
  return {
    id: iam?.userArn ?? iam?.callerId ?? 'unknown-caller',
    ...(rc?.requestId ? { requestId: rc.requestId } : {}),
  };
}

function readBody(event: APIGatewayProxyEventV2): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, [`(body): not JSON (${(e as Error).message})`]);
  }
}

const STATUS: Record<OperationError['code'], number> = {
  INVALID: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  UNAVAILABLE: 422,
};

/** The API handler. */
export async function handler(event: APIGatewayProxyEventV2): Promise<Result> {
  const method = event.requestContext?.http?.method ?? '';
  const path = event.rawPath ?? '';
  if (path === '/signals') return intakeHttp(event);
  const ctx = await getContext();
  try {
    const candidates = ROUTES.map((r) => ({ r, params: match(r.path, path) })).filter(
      (c) => c.params !== null,
    );
    if (candidates.length === 0) return json(404, { errors: [`no route ${path}`] });
    const found = candidates.find((c) => c.r.method === method);
    if (!found) {
      const allow = candidates.map((c) => c.r.method).join(', ');
      return {
        ...json(405, { errors: [`method ${method} is not allowed on ${path}; use ${allow}`] }),
        headers: { 'content-type': 'application/json', allow },
      };
    }
    const query: Query = {};
    const problems: string[] = [];
    for (const [k, v] of Object.entries(event.queryStringParameters ?? {})) {
      if (!found.r.query.includes(k))
        problems.push(
          `${k}: unknown query parameter${found.r.query.length ? `; accepted: ${found.r.query.join(', ')}` : ''}`,
        );
      else if (v !== undefined) query[k] = v;
    }
    if (problems.length > 0) return json(400, { errors: problems });
    if (found.r.method === 'GET' && event.body) return json(400, { errors: ['(body): GET takes no body'] });
    const res = await found.r.run({
      ctx,
      params: found.params ?? {},
      query,
      body: () => readBody(event),
      actor: actorOf(event),
    });
    logger.info('api', { method, path, status: res.statusCode });
    return res;
  } catch (e) {
    if (e instanceof HttpError) return json(e.status, { errors: e.errors });
    if (e instanceof OperationError) return json(STATUS[e.code], { errors: e.problems });
    if (e instanceof InvalidInputError) return json(400, { errors: [e.message] });
    logger.error('api request failed', { method, path, error: e instanceof Error ? e.message : String(e) });
    return json(500, { errors: ['internal error; see the api function logs'] });
  } finally {
    ctx.metrics.flush();
  }
}
