/**
 * The emulators for the tests: the one implementation lives in `local/runtime/emulators.ts` (the full local
 * runtime uses it too); this module re-exports it under the path the tests import.
 */
export { ManualClock, startEmulators } from '../../local/runtime/emulators.js';
export type { EmulatorOptions, Emulators, LocalQueue } from '../../local/runtime/emulators.js';
