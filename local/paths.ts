/**
 * Paths of the bundled inputs, resolved from this file so they work from any working directory.
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (where `data/` and `local/` live). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Bundled candle files. */
export const BUNDLED_CANDLES_DIR = join(REPO_ROOT, 'data', 'candles');
/** Bundled exchange trading rules. */
export const BUNDLED_MARKETS_FILE = join(REPO_ROOT, 'data', 'markets.json');
/** Bundled sample signals. */
export const BUNDLED_SIGNALS_FILE = join(REPO_ROOT, 'data', 'signals', 'sample-signals.json');
/** Default engine configuration of the local replay. */
export const DEFAULT_CONFIG_FILE = join(REPO_ROOT, 'local', 'default-config.json');
