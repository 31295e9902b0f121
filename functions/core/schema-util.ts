/**
 * Schema helpers shared by the configuration and signal schemas (zod): decimal fields and readable errors.
 */
import { z } from 'zod';
import { D, type Decimal } from './decimal.js';

const DECIMAL_RE = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A decimal field given as a JSON string ("0.001") or a finite number (0.001), parsed to `Decimal`.
 * Strings are preferred in payloads because they keep every digit as written.
 */
export function decimalField(opts: { positive?: boolean; nonNegative?: boolean; max?: string } = {}) {
  return z
    .union([z.string(), z.number()], { error: 'expected a decimal number (string or number)' })
    .transform((raw, ctx): Decimal => {
      const text = typeof raw === 'number' ? String(raw) : raw.trim();
      if (typeof raw === 'number' && !Number.isFinite(raw)) {
        ctx.addIssue({ code: 'custom', message: `expected a finite number, got ${String(raw)}` });
        return z.NEVER;
      }
      if (!DECIMAL_RE.test(text)) {
        ctx.addIssue({ code: 'custom', message: `"${text}" is not a decimal number` });
        return z.NEVER;
      }
      const value = new D(text);
      if (opts.positive && !value.gt(0)) {
        ctx.addIssue({ code: 'custom', message: `must be greater than 0, got ${text}` });
        return z.NEVER;
      }
      if (opts.nonNegative && value.lt(0)) {
        ctx.addIssue({ code: 'custom', message: `must not be negative, got ${text}` });
        return z.NEVER;
      }
      if (opts.max !== undefined && value.gt(opts.max)) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${opts.max}, got ${text}` });
        return z.NEVER;
      }
      return value;
    });
}

/** One line per problem, each naming the field path: `stop.pct: must be greater than 0, got -1`. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)';
    return `${path}: ${issue.message}`;
  });
}

/** Thrown when a configuration or a payload does not match its schema; `problems` lists each one. */
export class ValidationError extends Error {
  constructor(
    readonly what: string,
    readonly problems: string[],
  ) {
    super(`invalid ${what}: ${problems.join('; ')}`);
    this.name = 'ValidationError';
  }
}
