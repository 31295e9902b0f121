/**
 * The handlers' environment, parsed with zod once per cold start. Only names, ARNs and URLs live here —
 * never secrets (exchange keys are read from Secrets Manager by name, from the configuration).
 */
import { z } from 'zod';

const envSchema = z.object({
  /** The DynamoDB trade table. */
  TABLE_NAME: z.string().min(1).optional(),
  /** The trade-lifecycle state machine (intake starts executions; callbacks need no ARN). */
  STATE_MACHINE_ARN: z.string().startsWith('arn:').optional(),
  /** The SSM parameter holding the engine configuration JSON. */
  CONFIG_PARAMETER: z.string().min(1).optional(),
  /** The FIFO order queue (the state machine sends to it; handlers may too). */
  ORDER_QUEUE_URL: z.url().optional(),
  /** The SNS topic the daily reporter publishes to (the alarm/report topic). */
  REPORT_TOPIC_ARN: z.string().startsWith('arn:').optional(),
  /** Seconds the configuration is cached (default 60). */
  CONFIG_MAX_AGE_SECONDS: z.coerce.number().nonnegative().optional(),
});

/** The parsed environment. */
export type HandlerEnv = z.infer<typeof envSchema>;

/** Parses `env` (default `process.env`); throws a TypeError listing every bad variable. */
export function parseEnv(env: Record<string, string | undefined> = process.env): HandlerEnv {
  const r = envSchema.safeParse(env);
  if (!r.success)
    throw new TypeError(
      `invalid environment: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return r.data;
}

/** The value of a required variable; a TypeError naming it when it is missing. */
export function required<K extends keyof HandlerEnv>(env: HandlerEnv, key: K): NonNullable<HandlerEnv[K]> {
  const v = env[key];
  if (v === undefined || v === null) throw new TypeError(`environment variable ${key} is required`);
  return v;
}
