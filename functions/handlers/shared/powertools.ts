/**
 * Powertools for the handlers, wired once: the logger, the tracer and the metrics sink (EMF, namespace
 * `Tradewarden`, one dimension `Service` = the handler's service name, from `POWERTOOLS_SERVICE_NAME`).
 * Handlers record metrics through a {@link HandlerMetrics} sink so tests can read them back.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/** The CloudWatch namespace of every engine metric. */
export const METRICS_NAMESPACE = 'Tradewarden';

/** This function's service name (the `Service` dimension); `tradewarden` outside Lambda. */
export const SERVICE_NAME = process.env.POWERTOOLS_SERVICE_NAME ?? 'tradewarden';

/** The structured logger (JSON lines; never give it secrets). */
export const logger = new Logger({ serviceName: SERVICE_NAME });

/** The X-Ray tracer (inactive outside Lambda). */
export const tracer = new Tracer({ serviceName: SERVICE_NAME });

/** Metric names the handlers emit (the workers' names are in `functions/services/worker-support.ts`). */
export const HANDLER_METRIC = {
  /** Stop acknowledged − entry fill seen, per trade (alarm above 1000 ms). */
  FillToStopLatencyMs: 'FillToStopLatencyMs',
  /** A position found without a stop (alarm above 0). */
  UnprotectedPositions: 'UnprotectedPositions',
  /** Signals rejected at intake (invalid). */
  SignalsRejected: 'SignalsRejected',
  /** Signals accepted at intake. */
  SignalsAccepted: 'SignalsAccepted',
  /** Trades skipped by the risk gate or sizing. */
  TradesSkipped: 'TradesSkipped',
  /** Stop updates refused by the fail-safe. */
  FailSafeRejections: 'FailSafeRejections',
} as const;

/** A metrics sink: counts and durations by name; `flush` publishes what was recorded. */
export interface HandlerMetrics {
  /** Adds `n` (default 1) to a count metric. */
  count(name: string, n?: number): void;
  /** Records a duration in milliseconds. */
  timing(name: string, ms: number): void;
  /** Publishes the recorded metrics (EMF) at the end of an invocation. */
  flush(): void;
}

/** The EMF sink over Powertools Metrics with the single dimension `Service`. */
export class PowertoolsMetrics implements HandlerMetrics {
  readonly metrics: Metrics;

  constructor(serviceName: string = SERVICE_NAME) {
    this.metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName });
    this.metrics.clearDefaultDimensions();
    this.metrics.setDefaultDimensions({ Service: serviceName });
  }

  count(name: string, n = 1): void {
    this.metrics.addMetric(name, MetricUnit.Count, n);
  }

  timing(name: string, ms: number): void {
    this.metrics.addMetric(name, MetricUnit.Milliseconds, ms);
  }

  flush(): void {
    this.metrics.publishStoredMetrics();
  }
}

/** A sink that keeps every value in memory (tests and the local runtime). */
export class RecordingMetrics implements HandlerMetrics {
  readonly recorded: { name: string; unit: 'Count' | 'Milliseconds'; value: number }[] = [];

  count(name: string, n = 1): void {
    this.recorded.push({ name, unit: 'Count', value: n });
  }

  timing(name: string, ms: number): void {
    this.recorded.push({ name, unit: 'Milliseconds', value: ms });
  }

  flush(): void {}

  /** Every value recorded under `name`. */
  values(name: string): number[] {
    return this.recorded.filter((r) => r.name === name).map((r) => r.value);
  }
}
