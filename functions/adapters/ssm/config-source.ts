/**
 * The engine configuration from an SSM String parameter (JSON), read with Powertools parameters and cached
 * for `maxAgeSeconds` (default 60): updating the parameter reloads the configuration within a minute.
 * The parsed configuration is kept as long as the parameter's text is unchanged.
 */
import { SSMProvider } from '@aws-lambda-powertools/parameters/ssm';
import { parseConfig } from '../../core/config.js';
import type { EngineConfig } from '../../core/config.js';
import { ValidationError } from '../../core/schema-util.js';
import { ConfigUnavailableError } from '../../ports/config.js';
import type { ConfigSource } from '../../ports/config.js';

/** The part of Powertools' SSMProvider this adapter uses (tests pass a stand-in). */
export interface ParameterReader {
  get(name: string, options?: { maxAge?: number; forceFetch?: boolean }): Promise<unknown>;
}

/** Options of {@link SsmConfigSource}. */
export interface SsmConfigSourceOptions {
  /** Name of the SSM parameter (env `CONFIG_PARAMETER`). */
  parameterName: string;
  /** Cache age in seconds; default 60. */
  maxAgeSeconds?: number;
  /** Default: a Powertools SSMProvider with the Lambda's credentials. */
  reader?: ParameterReader;
}

/** {@link ConfigSource} over an SSM parameter. */
export class SsmConfigSource implements ConfigSource {
  private readonly reader: ParameterReader;
  private readonly maxAge: number;
  private lastText: string | undefined;
  private lastConfig: EngineConfig | undefined;

  constructor(private readonly opts: SsmConfigSourceOptions) {
    if (typeof opts.parameterName !== 'string' || opts.parameterName === '')
      throw new TypeError('parameterName must be a non-empty string');
    this.maxAge = opts.maxAgeSeconds ?? 60;
    if (!Number.isFinite(this.maxAge) || this.maxAge < 0)
      throw new RangeError(`maxAgeSeconds must be ≥ 0, got ${String(opts.maxAgeSeconds)}`);
    this.reader = opts.reader ?? new SSMProvider();
  }

  getConfig(): Promise<EngineConfig> {
    return this.read(false);
  }

  /** Reads the parameter now, bypassing the cache (config reload); an invalid value keeps the old one. */
  reload(): Promise<EngineConfig> {
    return this.read(true);
  }

  private async read(forceFetch: boolean): Promise<EngineConfig> {
    const source = `SSM parameter ${this.opts.parameterName}`;
    let text: unknown;
    try {
      text = await this.reader.get(this.opts.parameterName, {
        maxAge: this.maxAge,
        ...(forceFetch ? { forceFetch: true } : {}),
      });
    } catch (e) {
      throw new ConfigUnavailableError(source, `read failed (${(e as Error).message})`, e);
    }
    if (typeof text !== 'string' || text === '')
      throw new ConfigUnavailableError(source, 'the parameter is missing or empty');
    if (text === this.lastText && this.lastConfig) return this.lastConfig;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new ConfigUnavailableError(source, `not JSON (${(e as Error).message})`, e);
    }
    try {
      this.lastConfig = parseConfig(raw);
    } catch (e) {
      if (e instanceof ValidationError) throw new ConfigUnavailableError(source, e.message, e);
      throw e;
    }
    this.lastText = text;
    return this.lastConfig;
  }
}
