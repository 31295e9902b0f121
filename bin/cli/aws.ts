/**
 * The CLI's two AWS calls: reading the deployed stack's outputs (CloudFormation DescribeStacks) and
 * calling the stack's IAM-authorized HTTP API with SigV4-signed requests (service `execute-api`).
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { RemoteError, UsageError } from './errors.js';

/** AWS credentials as the SDK resolves them. */
export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Resolves credentials (the SDK's provider shape). */
export type CredentialsProvider = () => Promise<Credentials>;

/** Stack output keys the CLI reads, in order of preference, for the API's base URL. */
export const API_URL_OUTPUT = 'ApiUrl';
/**
 * Fallback: the signal intake URL (`<api>/signals`), output by the SignalsIngress construct under a
 * logical id that starts with this prefix (CDK appends a hash).
 */
export const SIGNALS_URL_OUTPUT_PREFIX = 'SignalsIngressSignalsUrl';

/** How long one API request may take before the CLI gives up (API Gateway's own limit is 30 s). */
export const REQUEST_TIMEOUT_MS = 35_000;

/** Where and as whom the CLI talks to AWS. */
export interface AwsSettings {
  /** CloudFormation stack name (the `--stack` option). */
  stackName: string;
  /** Region; undefined → the SDK's chain (AWS_REGION, the profile's region). */
  region?: string;
  /** Named profile of the shared config/credentials files; undefined → AWS_PROFILE or `default`. */
  profile?: string;
  /** Credentials; undefined → the SDK's default chain (`@aws-sdk/credential-provider-node`). */
  credentials?: CredentialsProvider;
  /** CloudFormation endpoint override (tests, or a private endpoint); undefined → the regional one. */
  cloudFormationEndpoint?: string;
}

/** What the CLI needs from the stack: the API base URL (no trailing slash) and the region to sign for. */
export interface StackTarget {
  apiUrl: string;
  region: string;
  credentials: CredentialsProvider;
}

/** Builds the credentials provider: the given one, else the default chain for the profile. */
async function credentialsFor(settings: AwsSettings): Promise<CredentialsProvider> {
  if (settings.credentials) return settings.credentials;
  // loaded on demand: the chain pulls in SSO/STS code that `--help` and bad usage never need
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  return defaultProvider(settings.profile === undefined ? {} : { profile: settings.profile });
}

/** The API base URL from a stack's outputs ({@link API_URL_OUTPUT}, else the signals URL minus `/signals`). */
export function apiUrlFromOutputs(outputs: ReadonlyMap<string, string>, stackName: string): string {
  const direct = outputs.get(API_URL_OUTPUT);
  if (direct) return direct.replace(/\/+$/, '');
  for (const [key, value] of outputs) {
    if (key.startsWith(SIGNALS_URL_OUTPUT_PREFIX) && value.endsWith('/signals')) {
      return value.slice(0, -'/signals'.length);
    }
  }
  const keys = [...outputs.keys()].join(', ') || 'none';
  throw new RemoteError(
    `stack ${stackName} has no output ${API_URL_OUTPUT} (nor ${SIGNALS_URL_OUTPUT_PREFIX}…); its outputs: ${keys}. ` +
      'Deploy the current version of the stack.',
  );
}

/** Reads the stack's outputs with DescribeStacks and resolves the API URL, region and credentials. */
export async function resolveStack(settings: AwsSettings): Promise<StackTarget> {
  const credentials = await credentialsFor(settings);
  const client = new CloudFormationClient({
    credentials,
    maxAttempts: 2,
    ...(settings.region === undefined ? {} : { region: settings.region }),
    ...(settings.profile === undefined ? {} : { profile: settings.profile }),
    ...(settings.cloudFormationEndpoint === undefined ? {} : { endpoint: settings.cloudFormationEndpoint }),
  });
  try {
    let region: string;
    try {
      region = await client.config.region();
    } catch {
      throw new UsageError('no AWS region: pass --region or set AWS_REGION (or a region in the profile)');
    }
    let stack;
    try {
      const out = await client.send(new DescribeStacksCommand({ StackName: settings.stackName }));
      stack = out.Stacks?.[0];
    } catch (e) {
      const err = e as Error;
      throw new RemoteError(
        `cannot read stack ${settings.stackName} in ${region}: ${err.name}: ${err.message}`,
      );
    }
    if (!stack) throw new RemoteError(`stack ${settings.stackName} not found in ${region}`);
    const outputs = new Map<string, string>();
    for (const o of stack.Outputs ?? []) {
      if (o.OutputKey && o.OutputValue !== undefined) outputs.set(o.OutputKey, o.OutputValue);
    }
    return { apiUrl: apiUrlFromOutputs(outputs, settings.stackName), region, credentials };
  } finally {
    client.destroy();
  }
}

/** One API call: method, path (with query) and an optional JSON body. */
export interface ApiRequest {
  method: 'GET' | 'POST';
  /** Path under the API base URL, starting with `/`. */
  path: string;
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | undefined>;
  /** JSON body (POST only). */
  body?: unknown;
}

/** The reasons in an API error body: `errors` (array), else `error`, else `message`; else the raw text. */
export function reasonsOf(body: unknown, text: string): string[] {
  if (body !== null && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (Array.isArray(b.errors) && b.errors.length > 0) return b.errors.map((x) => String(x));
    for (const key of ['error', 'reason', 'message', 'Message']) {
      const v = b[key];
      if (typeof v === 'string' && v !== '') return [v];
    }
  }
  const trimmed = text.trim();
  return trimmed === '' ? [] : [trimmed.slice(0, 500)];
}

/** Sends SigV4-signed JSON requests to the stack's HTTP API. */
export class ApiClient {
  private readonly signer: SignatureV4;
  private readonly base: URL;

  constructor(private readonly target: StackTarget) {
    this.base = new URL(target.apiUrl);
    this.signer = new SignatureV4({
      credentials: target.credentials,
      region: target.region,
      service: 'execute-api',
      sha256: Sha256,
    });
  }

  /** Sends the request; answers the parsed JSON body of a 2xx, throws {@link RemoteError} otherwise. */
  async call(req: ApiRequest): Promise<unknown> {
    const url = new URL(this.base.pathname.replace(/\/+$/, '') + req.path, this.base);
    const query: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v !== undefined) {
        query[k] = v;
        url.searchParams.set(k, v);
      }
    }
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);
    const headers: Record<string, string> = { host: url.host, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let signed;
    try {
      signed = await this.signer.sign({
        method: req.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port === '' ? {} : { port: Number(url.port) }),
        path: url.pathname,
        query,
        headers,
        ...(body === undefined ? {} : { body }),
      });
    } catch (e) {
      throw new RemoteError(`cannot sign the request (no AWS credentials?): ${(e as Error).message}`);
    }
    const what = `${req.method} ${req.path}`;
    let res: Response;
    try {
      const sendHeaders = { ...signed.headers };
      delete sendHeaders.host; // fetch sets Host itself (same value)
      res = await fetch(url, {
        method: req.method,
        headers: sendHeaders,
        ...(body === undefined ? {} : { body }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      const cause = err.cause ? ` (${err.cause.message})` : '';
      throw new RemoteError(`${what} failed: ${err.message}${cause}`);
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      throw new RemoteError(`${what} answered ${res.status}`, res.status, reasonsOf(parsed, text));
    }
    if (parsed === undefined)
      throw new RemoteError(`${what} answered ${res.status} with a body that is not JSON`);
    return parsed;
  }
}
