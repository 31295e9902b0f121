/** An in-memory {@link ConfigSource} (local runtime and tests); `set` is the local "config reload". */
import { parseConfig } from '../../core/config.js';
import type { EngineConfig } from '../../core/config.js';
import { ValidationError } from '../../core/schema-util.js';
import { ConfigUnavailableError } from '../../ports/config.js';
import type { ConfigSource } from '../../ports/config.js';

/** Holds one parsed configuration; throws a ValidationError (nothing changes) when a new one is invalid. */
export class InMemoryConfigSource implements ConfigSource {
  private config: EngineConfig;

  /** `raw` is the configuration JSON (validated here). */
  constructor(raw: unknown) {
    this.config = InMemoryConfigSource.parse(raw);
  }

  private static parse(raw: unknown): EngineConfig {
    try {
      return parseConfig(raw);
    } catch (e) {
      if (e instanceof ValidationError) throw new ConfigUnavailableError('memory', e.message, e);
      throw e;
    }
  }

  /** Replaces the configuration (validated first; on error the old one stays). */
  set(raw: unknown): void {
    this.config = InMemoryConfigSource.parse(raw);
  }

  getConfig(): Promise<EngineConfig> {
    return Promise.resolve(this.config);
  }

  /** Nothing is cached in memory: answers the configuration in force. */
  reload(): Promise<EngineConfig> {
    return Promise.resolve(this.config);
  }
}
