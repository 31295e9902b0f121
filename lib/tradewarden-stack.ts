/**
 * The Tradewarden stack: one construct per concern, wired with least-privilege grants.
 *
 * | construct | concern |
 * |---|---|
 * | {@link TradeTable} | trade state (DynamoDB) |
 * | {@link QueueWithDeadLetter} ×2 | the FIFO order queue and the signals queue, each with its DLQ |
 * | {@link ExchangeAccounts} | one secret per exchange account, the configuration parameter |
 * | {@link HandlerFunction} ×11 | one Lambda function per handler, each with its own role |
 * | {@link LifecycleStateMachine} | the Standard trade-lifecycle workflow |
 * | {@link SignalsIngress} | the IAM-authorized HTTP API and the signals queue subscription |
 * | {@link WorkerSchedules} | EventBridge Scheduler schedules of the workers, the reconciler and the reporter |
 * | {@link OperatorApi} | the operator routes on the HTTP API (IAM auth) |
 * | {@link Monitoring} | the SNS alarm topic, the alarms and the dashboard |
 */
import { join } from 'node:path';
import { CfnOutput, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import { orderQueueShape, signalsQueueShape, tableShape } from '../functions/resources.js';
import type { AccountSpec } from './exchange-accounts.js';
import { CONFIG_PARAMETER_NAME, ExchangeAccounts } from './exchange-accounts.js';
import { HandlerFunction, INLINE_CODE_CONTEXT, assertEntriesExist } from './handler-function.js';
import type { HandlerSpec } from './handler-function.js';
import { LifecycleStateMachine } from './lifecycle-state-machine.js';
import { Monitoring } from './monitoring.js';
import { OperatorApi } from './operator-api.js';
import { QueueWithDeadLetter } from './queues.js';
import { SignalsIngress } from './signals-ingress.js';
import { TradeTable } from './trade-table.js';
import { WorkerSchedules } from './worker-schedules.js';

/** The handlers, by key: service name, entry file, memory and timeout. */
export const HANDLERS = {
  intakeHttp: {
    service: 'intake-http',
    entry: 'functions/handlers/intake-http.ts',
    memoryMb: 256,
    timeoutSeconds: 10,
    description: 'POST /signals: validate, create the trade, start its execution',
  },
  intakeSqs: {
    service: 'intake-sqs',
    entry: 'functions/handlers/intake-sqs.ts',
    memoryMb: 256,
    // at most 1/6 of the signals queue's 30 s visibility timeout
    timeoutSeconds: 5,
    description: 'Signals queue consumer: validate, create the trade, start its execution',
  },
  evaluate: {
    service: 'evaluate',
    entry: 'functions/handlers/evaluate.ts',
    memoryMb: 512,
    timeoutSeconds: 30,
    description: 'State machine task Evaluate: risk gate and sizing',
  },
  orderExecutor: {
    service: 'order-executor',
    entry: 'functions/handlers/order-executor.ts',
    memoryMb: 1024,
    // one command per invocation: a limit entry waits up to 30 s, plus read retries (1 + 2 + 4 s);
    // at most 1/6 of the order queue's 360 s visibility timeout
    timeoutSeconds: 60,
    description: 'Order queue consumer: entries (with the stop), exits, partial exits, stop replacement',
  },
  lifecycleTask: {
    service: 'lifecycle-task',
    entry: 'functions/handlers/lifecycle-task.ts',
    memoryMb: 512,
    timeoutSeconds: 30,
    description:
      'State machine lifecycle tasks: armLive, settle, startPostTrade, finalize, markFailed, ensureFlat',
  },
  stopManager: {
    service: 'stop-manager',
    entry: 'functions/handlers/stop-manager.ts',
    memoryMb: 1024,
    // one invocation per minute runs 6 ticks 10 s apart (docs/architecture.md, "Sub-minute ticks")
    timeoutSeconds: 70,
    description: 'Stop manager worker: trailing, partials, profit locks, fail-safe (10 s ticks)',
  },
  milestoneChecker: {
    service: 'milestone-checker',
    entry: 'functions/handlers/milestone-checker.ts',
    memoryMb: 512,
    timeoutSeconds: 70,
    description: 'Milestone worker: live and shadow profit milestones',
  },
  lifecycleWatch: {
    service: 'lifecycle-watch',
    entry: 'functions/handlers/lifecycle-watch.ts',
    memoryMb: 512,
    timeoutSeconds: 60,
    description: 'Lifecycle watch worker: 180/240 min timeouts, health score, unprotected positions',
  },
  reconciler: {
    service: 'reconciler',
    entry: 'functions/handlers/reconciler.ts',
    memoryMb: 512,
    // below the reconciler's account lease (240 s), so a run never outlives its lease
    timeoutSeconds: 180,
    description: 'Reconciliation of the table with the exchanges (every 5 minutes, or a console test event)',
  },
  reporter: {
    service: 'reporter',
    entry: 'functions/handlers/reporter.ts',
    memoryMb: 256,
    timeoutSeconds: 60,
    description: 'Daily performance report per account: stored and published to the report topic',
  },
  api: {
    service: 'api',
    entry: 'functions/handlers/api.ts',
    memoryMb: 512,
    // the HTTP API's integration timeout is 30 s
    timeoutSeconds: 29,
    description: 'Operator API: health, trades, analytics, trading state, force exit, config reload',
  },
} as const satisfies Record<string, HandlerSpec>;

/** Handler keys. */
export type HandlerKey = keyof typeof HANDLERS;

/** What each handler may do besides logging and tracing (the grants below implement exactly this). */
export const HANDLER_ACCESS: Record<
  HandlerKey,
  { startExecution: boolean; taskResponse: boolean; exchangeSecrets: boolean }
> = {
  intakeHttp: { startExecution: true, taskResponse: false, exchangeSecrets: false },
  intakeSqs: { startExecution: true, taskResponse: false, exchangeSecrets: false },
  evaluate: { startExecution: false, taskResponse: false, exchangeSecrets: true },
  orderExecutor: { startExecution: false, taskResponse: true, exchangeSecrets: true },
  lifecycleTask: { startExecution: false, taskResponse: false, exchangeSecrets: true },
  stopManager: { startExecution: false, taskResponse: true, exchangeSecrets: true },
  milestoneChecker: { startExecution: false, taskResponse: false, exchangeSecrets: false },
  lifecycleWatch: { startExecution: false, taskResponse: true, exchangeSecrets: true },
  reconciler: { startExecution: true, taskResponse: true, exchangeSecrets: true },
  reporter: { startExecution: false, taskResponse: false, exchangeSecrets: false },
  // exchange secrets and executions for POST /reconcile (reads the exchange, adopts positions)
  api: { startExecution: true, taskResponse: true, exchangeSecrets: true },
};

/** DynamoDB actions every handler needs on the table and its two indexes (the trade store's calls). */
export const TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:Query',
] as const;

/** Step Functions callback actions (end a `.waitForTaskToken` state). */
export const TASK_RESPONSE_ACTIONS = [
  'states:SendTaskSuccess',
  'states:SendTaskFailure',
  'states:SendTaskHeartbeat',
] as const;

/** Properties of {@link TradewardenStack}. */
export interface TradewardenStackProps extends StackProps {
  /** Repository root (handler entries, the ASL file, tsconfig). */
  readonly repoRoot: string;
  /** The exchange accounts (from the `accounts` context). */
  readonly accounts: readonly AccountSpec[];
  /** ASL file (default `statemachines/trade-lifecycle.asl.json` under the root). */
  readonly definitionFile?: string;
}

/** The whole engine in one stack. */
export class TradewardenStack extends Stack {
  readonly handlers: Record<HandlerKey, HandlerFunction>;
  readonly table: TradeTable;
  readonly orderQueue: QueueWithDeadLetter;
  readonly signalsQueue: QueueWithDeadLetter;
  readonly accounts: ExchangeAccounts;
  readonly lifecycle: LifecycleStateMachine;
  readonly ingress: SignalsIngress;
  readonly schedules: WorkerSchedules;
  readonly operatorApi: OperatorApi;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: TradewardenStackProps) {
    super(scope, id, {
      description: 'Tradewarden: serverless trade-lifecycle engine for crypto exchanges',
      ...props,
    });
    const alarmEmail = new CfnParameter(this, 'AlarmEmail', {
      type: 'String',
      description: 'Email address that receives the alarm notifications (confirm the subscription email)',
      allowedPattern: '^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$',
      constraintDescription: 'must be an email address',
    });

    if (this.node.tryGetContext(INLINE_CODE_CONTEXT) !== true) {
      // name every missing handler file at once, before any bundling starts
      assertEntriesExist(
        props.repoRoot,
        Object.values(HANDLERS).map((h) => h.entry),
      );
    }
    this.table = new TradeTable(this, tableShape.logicalId);
    this.orderQueue = new QueueWithDeadLetter(this, 'Orders', orderQueueShape);
    this.signalsQueue = new QueueWithDeadLetter(this, 'Signals', signalsQueueShape);
    this.accounts = new ExchangeAccounts(this, 'ExchangeAccounts', props.accounts);

    const common = {
      TABLE_NAME: this.table.table.tableName,
      CONFIG_PARAMETER: CONFIG_PARAMETER_NAME,
      CONFIG_MAX_AGE_SECONDS: '60',
    };
    const make = (key: HandlerKey, environment: Record<string, string> = {}): HandlerFunction =>
      new HandlerFunction(this, key[0]!.toUpperCase() + key.slice(1), {
        spec: HANDLERS[key],
        repoRoot: props.repoRoot,
        environment: { ...common, ...environment },
      });
    const handlers = {
      evaluate: make('evaluate'),
      lifecycleTask: make('lifecycleTask'),
      orderExecutor: make('orderExecutor'),
      stopManager: make('stopManager'),
      milestoneChecker: make('milestoneChecker'),
      lifecycleWatch: make('lifecycleWatch'),
    };

    this.lifecycle = new LifecycleStateMachine(this, 'Lifecycle', {
      definitionFile:
        props.definitionFile ?? join(props.repoRoot, 'statemachines', 'trade-lifecycle.asl.json'),
      evaluate: handlers.evaluate.fn,
      lifecycleTask: handlers.lifecycleTask.fn,
      orderQueue: this.orderQueue.queue,
    });
    const stateMachineArn = this.lifecycle.stateMachine.stateMachineArn;
    this.handlers = {
      ...handlers,
      intakeHttp: make('intakeHttp', { STATE_MACHINE_ARN: stateMachineArn }),
      intakeSqs: make('intakeSqs', { STATE_MACHINE_ARN: stateMachineArn }),
      reconciler: make('reconciler', { STATE_MACHINE_ARN: stateMachineArn }),
      reporter: make('reporter'),
      api: make('api', { STATE_MACHINE_ARN: stateMachineArn }),
    };

    // Grants: the table and the configuration for all; the rest per HANDLER_ACCESS.
    const table = this.table.table;
    const tableResources = [
      table.tableArn,
      ...tableShape.gsis.map((g) => `${table.tableArn}/index/${g.indexName}`),
    ];
    for (const key of Object.keys(HANDLERS) as HandlerKey[]) {
      const h = this.handlers[key];
      const access = HANDLER_ACCESS[key];
      h.allow([...TABLE_ACTIONS], tableResources);
      this.accounts.grantReadConfig(h.role);
      if (access.exchangeSecrets) this.accounts.grantReadSecrets(h.role);
      if (access.startExecution) h.allow(['states:StartExecution'], [stateMachineArn]);
      if (access.taskResponse) h.allow([...TASK_RESPONSE_ACTIONS], [stateMachineArn]);
    }

    this.ingress = new SignalsIngress(this, 'SignalsIngress', {
      intakeHttp: this.handlers.intakeHttp.fn,
      intakeSqs: this.handlers.intakeSqs.fn,
      signalsQueue: this.signalsQueue.queue,
    });
    this.handlers.orderExecutor.fn.addEventSource(
      new SqsEventSource(this.orderQueue.queue, { batchSize: 1, reportBatchItemFailures: true }),
    );

    this.schedules = new WorkerSchedules(this, 'Schedules');
    const everyMinute = scheduler.ScheduleExpression.rate(Duration.minutes(1));
    this.schedules.addWorker('stop-manager', this.handlers.stopManager.fn, everyMinute, Duration.minutes(1));
    this.schedules.addWorker(
      'milestone-checker',
      this.handlers.milestoneChecker.fn,
      everyMinute,
      Duration.minutes(1),
    );
    this.schedules.addWorker(
      'lifecycle-watch',
      this.handlers.lifecycleWatch.fn,
      everyMinute,
      Duration.minutes(1),
    );

    this.schedules.addWorker(
      'reconciler',
      this.handlers.reconciler.fn,
      scheduler.ScheduleExpression.rate(Duration.minutes(5)),
      Duration.minutes(5),
    );
    this.schedules.addWorker(
      'reporter',
      this.handlers.reporter.fn,
      scheduler.ScheduleExpression.cron({ minute: '5', hour: '0' }),
      Duration.days(1),
    );
    this.operatorApi = new OperatorApi(this, 'OperatorApi', {
      httpApi: this.ingress.api,
      handler: this.handlers.api.fn,
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      alarmEmail: alarmEmail.valueAsString,
      functions: (Object.keys(HANDLERS) as HandlerKey[]).map((key) => ({
        service: HANDLERS[key].service,
        fn: this.handlers[key].fn,
      })),
      deadLetterQueues: [
        { name: 'orders', queue: this.orderQueue.deadLetterQueue },
        { name: 'signals', queue: this.signalsQueue.deadLetterQueue },
      ],
      stateMachine: this.lifecycle.stateMachine,
    });

    // The reporter publishes to the alarm topic (encrypted with the topic's key).
    const topic = this.monitoring.topic;
    this.handlers.reporter.fn.addEnvironment('REPORT_TOPIC_ARN', topic.topicArn);
    this.handlers.reporter.allow(['sns:Publish'], [topic.topicArn]);
    if (topic.masterKey)
      this.handlers.reporter.allow(['kms:Decrypt', 'kms:GenerateDataKey'], [topic.masterKey.keyArn]);

    new CfnOutput(this, 'StateMachineArn', { value: stateMachineArn });
    new CfnOutput(this, 'ApiEndpoint', {
      value: this.ingress.api.apiEndpoint,
      description: 'Base URL of the operator API (SigV4-signed, execute-api:Invoke)',
    });
    new CfnOutput(this, 'ReconcilerFunctionName', { value: this.handlers.reconciler.fn.functionName });
    new CfnOutput(this, 'ReporterFunctionName', { value: this.handlers.reporter.fn.functionName });
    new CfnOutput(this, 'OrderQueueUrl', { value: this.orderQueue.queue.queueUrl });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.monitoring.topic.topicArn });
    new CfnOutput(this, 'ApiUrl', {
      value: this.ingress.api.apiEndpoint,
      description: 'Base URL of the HTTP API (SigV4-signed, execute-api:Invoke); read by the tradewarden CLI',
    });
  }
}
