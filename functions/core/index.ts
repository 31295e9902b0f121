/**
 * The Tradewarden domain core: pure functions over Decimal, no I/O, no clock.
 * Each module holds one area of the rules; docs/domain/ explains each rule with numbers.
 */
export * from './decimal.js';
export * from './types.js';
export * from './config.js';
export * from './signal.js';
export * from './risk-gate.js';
export * from './sizing.js';
export * from './exits.js';
export * from './fail-safe.js';
export * from './stop-manager.js';
export * from './milestones.js';
export * from './lifecycle.js';
export * from './health.js';
export * from './analytics.js';
export * from './fill-model.js';
export * from './reconciliation.js';
export { ValidationError, formatIssues } from './schema-util.js';
export * from './trade-codec.js';
