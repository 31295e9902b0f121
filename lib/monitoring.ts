/**
 * Alarms, the alarm topic and the dashboard.
 *
 * Every alarm notifies the SNS topic (ALARM and OK), whose email subscriber is the `AlarmEmail` stack
 * parameter. The engine's own metrics are EMF metrics in the `Tradewarden` namespace with the single
 * dimension `Service` (= the emitting handler's `POWERTOOLS_SERVICE_NAME`); a metric emitted by several
 * services is alarmed on the maximum across them (metric math `MAX([...])`).
 * The alarm list and meanings are in docs/architecture.md ("Alarms").
 */
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE } from './handler-function.js';

/** An engine metric alarm: metric name, statistic, threshold (alarm when strictly greater) and sources. */
export interface EngineAlarmSpec {
  /** Alarm id, also the alarm name's suffix. */
  readonly id: string;
  readonly metricName: string;
  readonly statistic: 'Maximum' | 'Sum' | 'p99';
  readonly threshold: number;
  /** Services (the `Service` dimension values) that emit the metric. */
  readonly services: readonly string[];
  readonly description: string;
}

/** The engine-metric alarms of the brief (names fixed by the handlers and workers). */
export const ENGINE_ALARMS: readonly EngineAlarmSpec[] = [
  {
    id: 'FillToStopLatency',
    metricName: 'FillToStopLatencyMs',
    statistic: 'Maximum',
    threshold: 1000,
    services: ['order-executor'],
    description: 'A stop was acknowledged by the exchange more than 1 s after its entry fill.',
  },
  {
    id: 'UnprotectedPosition',
    metricName: 'UnprotectedPositions',
    statistic: 'Maximum',
    threshold: 0,
    services: ['lifecycle-watch', 'stop-manager'],
    description: 'An open position had no live stop on the exchange (the watch re-places it at once).',
  },
  {
    id: 'BreakerOpen',
    metricName: 'BreakerOpen',
    statistic: 'Maximum',
    threshold: 0,
    services: ['order-executor', 'stop-manager', 'lifecycle-watch', 'lifecycle-task', 'evaluate'],
    description:
      'A circuit breaker (exchange account or position) is open: calls to the exchange are refused.',
  },
  {
    id: 'TickOverBudget',
    metricName: 'TickOverBudget',
    statistic: 'Maximum',
    threshold: 0,
    services: ['stop-manager', 'milestone-checker', 'lifecycle-watch'],
    description: 'A worker tick took longer than its time budget (later trades waited a tick).',
  },
  {
    id: 'ReconciliationMismatches',
    metricName: 'ReconciliationMismatches',
    statistic: 'Maximum',
    threshold: 0,
    services: ['reconciler'],
    description: 'Reconciliation found the exchange and the table disagreeing.',
  },
];

/** The metric of `spec` (one service) or the MAX across its services. */
export function engineMetric(spec: EngineAlarmSpec, period = Duration.minutes(1)): cloudwatch.IMetric {
  const metrics = spec.services.map(
    (service) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: spec.metricName,
        dimensionsMap: { Service: service },
        statistic: spec.statistic,
        period,
      }),
  );
  const [only] = metrics;
  if (metrics.length === 1 && only) return only;
  const usingMetrics = Object.fromEntries(metrics.map((m, i) => [`m${i}`, m]));
  return new cloudwatch.MathExpression({
    expression: `MAX([${metrics.map((_, i) => `m${i}`).join(', ')}])`,
    usingMetrics,
    label: spec.metricName,
    period,
  });
}

/** Properties of {@link Monitoring}. */
export interface MonitoringProps {
  /** Email address subscribed to the alarm topic (the `AlarmEmail` parameter's value). */
  readonly alarmEmail: string;
  readonly functions: readonly { readonly service: string; readonly fn: lambda.IFunction }[];
  readonly deadLetterQueues: readonly { readonly name: string; readonly queue: sqs.IQueue }[];
  readonly stateMachine: sfn.IStateMachine;
}

/** The alarm topic, the alarms and the dashboard. */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  private readonly action: SnsAction;
  private readonly prefix: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    this.prefix = Stack.of(this).stackName;
    const key = new kms.Key(this, 'TopicKey', {
      description: 'Encrypts the Tradewarden alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // CloudWatch alarms publish to an encrypted topic only if the key lets CloudWatch use it.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: 'Tradewarden alarms',
      masterKey: key,
      enforceSSL: true,
    });
    this.topic.addSubscription(new EmailSubscription(props.alarmEmail));
    this.action = new SnsAction(this.topic);

    for (const { name, queue } of props.deadLetterQueues) {
      this.add(
        `DlqNotEmpty-${name}`,
        queue.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        0,
        `The ${name} dead-letter queue holds a message that failed 5 deliveries.`,
      );
    }
    for (const { service, fn } of props.functions) {
      this.add(
        `HandlerErrors-${service}`,
        fn.metricErrors({ statistic: 'Sum', period: Duration.minutes(5) }),
        0,
        `The ${service} handler returned an error or timed out.`,
      );
    }
    this.add(
      'ExecutionsFailed',
      props.stateMachine.metricFailed({ statistic: 'Sum', period: Duration.minutes(5) }),
      0,
      'A trade-lifecycle execution failed (the trade went through EnsureFlat and MarkFailed).',
    );
    this.add(
      'ExecutionsTimedOut',
      props.stateMachine.metricTimedOut({ statistic: 'Sum', period: Duration.minutes(5) }),
      0,
      'A trade-lifecycle execution hit a Step Functions timeout backstop.',
    );
    for (const spec of ENGINE_ALARMS) this.add(spec.id, engineMetric(spec), spec.threshold, spec.description);

    this.dashboard = this.buildDashboard(props);
  }

  /** One alarm: `metric > threshold` on one datapoint; missing data is not breaching. */
  private add(id: string, metric: cloudwatch.IMetric, threshold: number, description: string): void {
    const alarm = new cloudwatch.Alarm(this, id, {
      alarmName: `${this.prefix}-${id}`,
      alarmDescription: description,
      metric,
      threshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
  }

  private buildDashboard(props: MonitoringProps): cloudwatch.Dashboard {
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${this.prefix}-engine`,
      defaultInterval: Duration.hours(6),
    });
    const engine = (name: string, services: readonly string[], statistic: string): cloudwatch.GraphWidget =>
      new cloudwatch.GraphWidget({
        title: name,
        width: 8,
        left: services.map(
          (service) =>
            new cloudwatch.Metric({
              namespace: METRICS_NAMESPACE,
              metricName: name,
              dimensionsMap: { Service: service },
              statistic,
              period: Duration.minutes(1),
              label: service,
            }),
        ),
      });
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24, height: 4 }),
    );
    dashboard.addWidgets(
      engine('FillToStopLatencyMs', ['order-executor'], 'p99'),
      engine('UnprotectedPositions', ['lifecycle-watch', 'stop-manager'], 'Maximum'),
      engine('BreakerOpen', ['order-executor', 'stop-manager', 'lifecycle-watch'], 'Maximum'),
    );
    dashboard.addWidgets(
      engine('StopUpdatesApplied', ['stop-manager'], 'Sum'),
      engine('StopUpdatesRejected', ['stop-manager'], 'Sum'),
      engine('StopUpdatesFailed', ['stop-manager'], 'Sum'),
    );
    dashboard.addWidgets(
      engine('TickDurationMs', ['stop-manager', 'milestone-checker', 'lifecycle-watch'], 'Maximum'),
      engine('MilestonesReached', ['milestone-checker'], 'Sum'),
      engine('FailSafeRejections', ['stop-manager', 'order-executor'], 'Sum'),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Handler errors',
        width: 12,
        left: props.functions.map(({ service, fn }) =>
          fn.metricErrors({ label: service, period: Duration.minutes(5) }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: 'Handler duration p99',
        width: 12,
        left: props.functions.map(({ service, fn }) =>
          fn.metricDuration({ label: service, statistic: 'p99', period: Duration.minutes(5) }),
        ),
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Executions',
        width: 12,
        left: [
          props.stateMachine.metricStarted({ label: 'started' }),
          props.stateMachine.metricSucceeded({ label: 'succeeded' }),
          props.stateMachine.metricFailed({ label: 'failed' }),
          props.stateMachine.metricTimedOut({ label: 'timed out' }),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Dead-letter queues (visible messages)',
        width: 12,
        left: props.deadLetterQueues.map(({ name, queue }) =>
          queue.metricApproximateNumberOfMessagesVisible({ label: name, statistic: 'Maximum' }),
        ),
      }),
    );
    return dashboard;
  }
}
