/**
 * The configuration port: where handlers get the engine configuration (schema: `functions/core/config.ts`).
 * In AWS it is an SSM String parameter read through Powertools parameters with a 60 s cache, so a config
 * reload is an update of the parameter (`functions/adapters/ssm/config-source.ts`); locally and in tests it
 * is held in memory (`functions/adapters/memory/config-source.ts`).
 */
import type { EngineConfig } from '../core/config.js';

/** A source of the validated engine configuration. */
export interface ConfigSource {
  /**
   * The configuration now in force. Rejects with a {@link ConfigUnavailableError} when it cannot be read
   * or does not validate (the message lists every problem).
   */
  getConfig(): Promise<EngineConfig>;
  /**
   * Drops any cached copy and reads the configuration again now (the operator's config reload). Rejects
   * like {@link getConfig}; on a rejection the configuration in force stays the previous one.
   */
  reload?(): Promise<EngineConfig>;
}

/** The configuration could not be read or is invalid. */
export class ConfigUnavailableError extends Error {
  constructor(
    readonly source: string,
    reason: string,
    override readonly cause?: unknown,
  ) {
    super(`configuration from ${source} is unavailable: ${reason}`);
    this.name = 'ConfigUnavailableError';
  }
}
