/**
 * The clock port. Adapters that need "now" (lease expiry, `updatedAt` of control records) read it
 * through this interface, so the local runtime can drive a simulated clock and tests a manual one.
 */
export interface Clock {
  /** The current time in epoch milliseconds (UTC). */
  now(): number;
}
