/**
 * POST /signals (API Gateway HTTP API, payload v2, IAM auth). Body: one signal (JSON).
 * 202 `{tradeId, created, started}` — accepted (a repeat answers `created: false`);
 * 400 `{errors: [...]}` — every problem listed, nothing written; 404/405 for other routes and methods.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { getContext } from './shared/context.js';
import { acceptSignal } from './shared/intake.js';
import { HANDLER_METRIC, logger } from './shared/powertools.js';

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/** The HTTP intake handler. */
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  const ctx = await getContext();
  try {
    const method = event.requestContext?.http?.method;
    if (event.rawPath !== '/signals') return json(404, { errors: [`no route ${String(event.rawPath)}`] });
    if (method !== 'POST')
      return json(405, { errors: [`method ${String(method)} is not allowed; use POST`] });
    if (!event.body) return json(400, { errors: ['(body): a JSON signal is required'] });
    let raw: unknown;
    try {
      const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
      raw = JSON.parse(text);
    } catch (e) {
      return json(400, { errors: [`(body): not JSON (${(e as Error).message})`] });
    }
    const r = await acceptSignal(ctx, raw);
    if (!r.ok) {
      ctx.metrics.count(HANDLER_METRIC.SignalsRejected);
      logger.warn('signal rejected', { errors: r.errors });
      return json(400, { errors: r.errors });
    }
    ctx.metrics.count(HANDLER_METRIC.SignalsAccepted);
    logger.info('signal accepted', { tradeId: r.tradeId, created: r.created, started: r.started });
    return json(202, { tradeId: r.tradeId, created: r.created, started: r.started });
  } finally {
    ctx.metrics.flush();
  }
}
