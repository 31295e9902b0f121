/**
 * The contract between the CLI and the stack: the synthesized template has the output the CLI reads for
 * the API's base URL (`ApiUrl`, the HTTP API's endpoint), and the signals-URL output its fallback looks for.
 */
import { describe, expect, it } from 'vitest';
import { API_URL_OUTPUT, SIGNALS_URL_OUTPUT_PREFIX } from '../../bin/cli/aws.js';
import { logicalId, synthesize } from '../infra/support.js';

describe('stack outputs read by the CLI', () => {
  const { stack, json } = synthesize();
  const outputs = json.Outputs as Record<string, { Value: unknown }>;
  const apiId = logicalId(stack, stack.ingress.api);

  it(`${API_URL_OUTPUT} is the HTTP API's endpoint`, () => {
    expect(outputs[API_URL_OUTPUT]?.Value).toEqual({ 'Fn::GetAtt': [apiId, 'ApiEndpoint'] });
  });

  it(`the fallback finds the signals URL output by its prefix ${SIGNALS_URL_OUTPUT_PREFIX}`, () => {
    const keys = Object.keys(outputs).filter((k) => k.startsWith(SIGNALS_URL_OUTPUT_PREFIX));
    expect(keys).toHaveLength(1);
    const value = JSON.stringify(outputs[keys[0]!]!.Value);
    expect(value).toContain(apiId);
    expect(value).toMatch(/\/signals"\]\]\}$/);
  });
});
