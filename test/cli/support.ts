/**
 * Stand-ins for the AWS side of the operator CLI, on 127.0.0.1: a CloudFormation endpoint answering
 * DescribeStacks (AWS query protocol, XML) and an HTTP server standing in for the stack's API. Both
 * record every request so a test can assert what was sent — or that nothing was.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main } from '../../bin/cli/main.js';
import type { CliDeps } from '../../bin/cli/main.js';

/** A request as received by a stand-in server. */
export interface Recorded {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** What a stand-in API route answers. */
export interface Reply {
  status: number;
  body: unknown;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(',') : v;
  }
  return out;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A local HTTP server that records requests and answers by `route(method, path)`. */
export class FakeServer {
  readonly requests: Recorded[] = [];
  url = '';
  private readonly server: Server;

  constructor(private readonly answer: (r: Recorded) => Reply | { raw: string; status: number }) {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      void readBody(req).then((body) => {
        const rec: Recorded = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: flatHeaders(req),
          body,
        };
        this.requests.push(rec);
        const a = this.answer(rec);
        if ('raw' in a) {
          res.writeHead(a.status, { 'content-type': 'text/xml' });
          res.end(a.raw);
        } else {
          res.writeHead(a.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(a.body));
        }
      });
    });
  }

  async start(): Promise<this> {
    this.url = await listen(this.server);
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A CloudFormation endpoint that knows the stacks in `stacks` (name → outputs). */
export function fakeCloudFormation(stacks: () => Record<string, Record<string, string>>): FakeServer {
  return new FakeServer((r) => {
    const form = new URLSearchParams(r.body);
    const name = form.get('StackName') ?? '';
    const outputs = stacks()[name];
    if (form.get('Action') !== 'DescribeStacks' || outputs === undefined) {
      const message =
        form.get('Action') === 'DescribeStacks'
          ? `Stack with id ${name} does not exist`
          : `unsupported action ${String(form.get('Action'))}`;
      return {
        status: 400,
        raw:
          '<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><Error><Type>Sender</Type>' +
          `<Code>ValidationError</Code><Message>${xmlEscape(message)}</Message></Error>` +
          '<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>',
      };
    }
    const members = Object.entries(outputs)
      .map(
        ([k, v]) =>
          `<member><OutputKey>${xmlEscape(k)}</OutputKey><OutputValue>${xmlEscape(v)}</OutputValue></member>`,
      )
      .join('');
    return {
      status: 200,
      raw:
        '<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><DescribeStacksResult>' +
        `<Stacks><member><StackName>${xmlEscape(name)}</StackName>` +
        `<StackId>arn:aws:cloudformation:eu-west-1:123456789012:stack/${xmlEscape(name)}/1</StackId>` +
        '<CreationTime>2026-01-01T00:00:00Z</CreationTime><StackStatus>CREATE_COMPLETE</StackStatus>' +
        `<Outputs>${members}</Outputs></member></Stacks></DescribeStacksResult>` +
        '<ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000001</RequestId></ResponseMetadata>' +
        '</DescribeStacksResponse>',
    };
  });
}

/** Fixed test credentials. */
export const TEST_CREDENTIALS = { accessKeyId: 'AKIDTESTTESTTEST', secretAccessKey: 'test-secret-key' };

/** Result of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in-process against the stand-ins. */
export async function runCli(
  argv: readonly string[],
  cfnUrl: string,
  extra: Partial<CliDeps> = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    readStdin: () => Promise.reject(new Error('no stdin in this test')),
    credentials: () => Promise.resolve(TEST_CREDENTIALS),
    cloudFormationEndpoint: cfnUrl,
    ...extra,
  });
  return { code, stdout, stderr };
}
