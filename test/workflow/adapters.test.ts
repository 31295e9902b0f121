/** The config and credentials adapters (Powertools providers replaced by in-memory readers: no local SSM / Secrets Manager exists) and the SFN adapter's error mapping. */
import { describe, expect, it } from 'vitest';
import { SecretsManagerCredentialsProvider } from '../../functions/adapters/secrets/credentials.js';
import { SfnWorkflow } from '../../functions/adapters/sfn/workflow.js';
import { SsmConfigSource } from '../../functions/adapters/ssm/config-source.js';
import { testConfig } from '../support/local-sfn.js';

const reader = (values: Record<string, unknown>) => ({
  calls: [] as { name: string; maxAge?: number }[],
  get(name: string, o?: { maxAge?: number }) {
    this.calls.push({ name, ...(o?.maxAge !== undefined ? { maxAge: o.maxAge } : {}) });
    return Promise.resolve(values[name]);
  },
});

describe('SsmConfigSource', () => {
  it('reads the parameter with a 60 s cache and parses it once per text', async () => {
    const r = reader({ '/tw/config': JSON.stringify(testConfig()) });
    const src = new SsmConfigSource({ parameterName: '/tw/config', reader: r });
    const a = await src.getConfig();
    const b = await src.getConfig();
    expect(a).toBe(b);
    expect(r.calls[0]).toEqual({ name: '/tw/config', maxAge: 60 });
    expect(a.accounts.get('demo')?.exchange).toBe('paper');
  });

  it('names every problem of an invalid configuration', async () => {
    const src = new SsmConfigSource({
      parameterName: '/p',
      reader: reader({ '/p': JSON.stringify({ accounts: [] }) }),
    });
    await expect(src.getConfig()).rejects.toThrow(/SSM parameter \/p .*at least one account/);
    const notJson = new SsmConfigSource({ parameterName: '/p', reader: reader({ '/p': '{' }) });
    await expect(notJson.getConfig()).rejects.toThrow(/not JSON/);
  });
});

describe('SecretsManagerCredentialsProvider', () => {
  const secret = JSON.stringify({ apiKey: 'AKEY-123', secret: 'SUPERSECRET' });

  it('returns the validated credentials of the account secret', async () => {
    const p = new SecretsManagerCredentialsProvider({
      secretNameOf: () => 'tw/main',
      reader: reader({ 'tw/main': secret }),
    });
    expect(await p.getCredentials('binanceusdm', 'main')).toEqual({
      apiKey: 'AKEY-123',
      secret: 'SUPERSECRET',
    });
  });

  it('rejects a malformed secret without echoing its contents', async () => {
    const bad = JSON.stringify({ apiKey: 'AKEY-123', secret: '', extra: 'SUPERSECRET' });
    const p = new SecretsManagerCredentialsProvider({
      secretNameOf: () => 'tw/main',
      reader: reader({ 'tw/main': bad }),
    });
    const err = await p.getCredentials('binanceusdm', 'main').catch((e: Error) => e);
    expect((err as Error).message).toMatch(/secret tw\/main is invalid/);
    expect((err as Error).message).not.toContain('SUPERSECRET');
    expect((err as Error).message).not.toContain('AKEY-123');
  });

  it('names the account when no secret is configured', async () => {
    const p = new SecretsManagerCredentialsProvider({ secretNameOf: () => undefined, reader: reader({}) });
    await expect(p.getCredentials('okx', 'acct-9')).rejects.toThrow(/account acct-9 .*no secretName/);
  });
});

describe('SfnWorkflow', () => {
  const named = (name: string) => Object.assign(new Error(name), { name });
  it('ExecutionAlreadyExists → started false; a finished task → delivered false', async () => {
    const wf = new SfnWorkflow({
      client: { send: () => Promise.reject(named('ExecutionAlreadyExists')) } as never,
      stateMachineArn: 'arn:aws:states:us-east-1:1:stateMachine:tw',
    });
    expect(await wf.startExecution('demo.s-1', {})).toEqual({ started: false });
    const gone = new SfnWorkflow({ client: { send: () => Promise.reject(named('TaskTimedOut')) } as never });
    expect(await gone.sendTaskSuccess('t', {})).toEqual({ delivered: false });
    expect(await gone.sendTaskFailure('t', 'E', 'c')).toEqual({ delivered: false });
    const other = new SfnWorkflow({ client: { send: () => Promise.reject(named('AccessDenied')) } as never });
    await expect(other.sendTaskSuccess('t', {})).rejects.toThrow('AccessDenied');
    await expect(wf.startExecution('bad name!', {})).rejects.toThrow(/execution name/);
  });
});
