/** Helpers of the operations tests: API Gateway v2 events, a full-table fingerprint, and tables of items. */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { handler as api } from '../../functions/handlers/api.js';
import type { Emulators } from '../support/emulators.js';

/** An IAM-signed API Gateway HTTP API (payload v2) request. */
export function request(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  opts: { query?: Record<string, string>; body?: unknown; rawBody?: string; caller?: string } = {},
): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: new URLSearchParams(opts.query ?? {}).toString(),
    ...(opts.query ? { queryStringParameters: opts.query } : {}),
    headers: {},
    isBase64Encoded: false,
    ...(opts.rawBody !== undefined
      ? { body: opts.rawBody }
      : opts.body !== undefined
        ? { body: JSON.stringify(opts.body) }
        : {}),
    requestContext: {
      requestId: `req-${Math.random().toString(36).slice(2, 10)}`,
      http: { method, path },
      authorizer: { iam: { userArn: opts.caller ?? 'arn:aws:iam::123456789012:user/alice' } },
    },
  } as unknown as APIGatewayProxyEventV2;
}

/** Calls the API handler; returns the status and the parsed JSON body. */
export async function call(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  opts: Parameters<typeof request>[2] = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await api(request(method, path, opts));
  return { status: res.statusCode ?? 0, body: JSON.parse(res.body ?? 'null') as Record<string, unknown> };
}

/** Every item of the table, sorted and serialized: equal fingerprints mean nothing was written. */
export async function fingerprint(emu: Emulators): Promise<string> {
  const items: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const res = await emu.ddb.send(
      new ScanCommand({
        TableName: emu.tableName,
        ConsistentRead: true,
        ...(start ? { ExclusiveStartKey: start as never } : {}),
      }),
    );
    for (const i of res.Items ?? []) items.push(canonical(i));
    start = res.LastEvaluatedKey;
  } while (start);
  return items.sort().join('\n');
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}
