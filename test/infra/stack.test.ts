/**
 * Template assertions on the synthesized Tradewarden stack: resources mapped from functions/resources.ts,
 * every alarm, schedule and grant, the state machine, secrets, functions, and the cdk-nag run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Match } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../functions/core/config.js';
import { orderQueueShape, signalsQueueShape, tableShape } from '../../functions/resources.js';
import type { QueueShape } from '../../functions/resources.js';
import { CONFIG_PARAMETER_NAME, secretNameFor } from '../../lib/exchange-accounts.js';
import { SUBSTITUTIONS } from '../../lib/lifecycle-state-machine.js';
import { ENGINE_ALARMS } from '../../lib/monitoring.js';
import { OPERATOR_ROUTES } from '../../lib/operator-api.js';
import { HANDLERS } from '../../lib/tradewarden-stack.js';
import type { HandlerKey } from '../../lib/tradewarden-stack.js';
import { logicalId, synthesize } from './support.js';
import type { Synthesized } from './support.js';

/**
 * What each handler may do, written out here independently of the stack (the brief's contract):
 * intake starts executions; the order executor, stop manager and lifecycle watch end callback waits;
 * every handler that talks to an exchange with keys reads the secrets; the milestone checker needs
 * public prices only.
 */
const ACCESS: Record<
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
  // adopts positions (starts their executions), ends LIVE waits at settlement, talks to the exchanges
  reconciler: { startExecution: true, taskResponse: true, exchangeSecrets: true },
  // reads the table only (and publishes to the report topic, checked below)
  reporter: { startExecution: false, taskResponse: false, exchangeSecrets: false },
  // force exit and flatten end LIVE waits; POST /signals stays on intake-http
  api: { startExecution: true, taskResponse: true, exchangeSecrets: true },
};
/** The trade store's DynamoDB calls (GetItem, PutItem, UpdateItem, Query); no Scan, Delete or batch. */
const TABLE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'];
const TASK_RESPONSE_ACTIONS = [
  'states:SendTaskSuccess',
  'states:SendTaskFailure',
  'states:SendTaskHeartbeat',
];

let s: Synthesized;
beforeAll(() => {
  s = synthesize();
}, 60_000);

type Resource = { Type: string; Properties?: Record<string, unknown> };
const ofType = (type: string): [string, Resource][] =>
  Object.entries(s.json.Resources).filter(([, r]) => r.Type === type);
const props = (id: string): Record<string, unknown> => {
  const r = s.json.Resources[id];
  if (!r) throw new Error(`no resource ${id}`);
  return r.Properties ?? {};
};
const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });
const HANDLER_KEYS = Object.keys(HANDLERS) as HandlerKey[];

/** action → sorted JSON of each resource it is allowed on, from one IAM policy resource. */
function grants(policyId: string): Map<string, string[]> {
  const doc = props(policyId).PolicyDocument as { Statement: Record<string, unknown>[] };
  const out = new Map<string, string[]>();
  for (const st of doc.Statement) {
    expect(st.Effect).toBe('Allow');
    expect(st.Condition).toBeUndefined();
    const actions = ([] as unknown[]).concat(st.Action) as string[];
    const resources = ([] as unknown[]).concat(st.Resource).map((r) => JSON.stringify(r));
    for (const a of actions) out.set(a, [...(out.get(a) ?? []), ...resources].sort());
  }
  return out;
}

/** The one IAM policy attached to a role (by the role's logical id). */
function policyOfRole(roleId: string): string {
  const found = ofType('AWS::IAM::Policy').filter(([, r]) =>
    (r.Properties?.Roles as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify({ Ref: roleId })),
  );
  expect(found).toHaveLength(1);
  return found[0]![0];
}

describe('table', () => {
  it('has the keys, indexes, TTL and billing of functions/resources.ts, PITR and AWS-managed SSE', () => {
    const tables = ofType('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(1);
    const p = tables[0]![1].Properties!;
    expect(p.KeySchema).toEqual([
      { AttributeName: tableShape.partitionKey.name, KeyType: 'HASH' },
      { AttributeName: tableShape.sortKey.name, KeyType: 'RANGE' },
    ]);
    expect(p.BillingMode).toBe('PAY_PER_REQUEST');
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(p.SSESpecification).toEqual({ SSEEnabled: true });
    expect(p.TimeToLiveSpecification).toEqual({
      AttributeName: tableShape.timeToLiveAttribute,
      Enabled: true,
    });
    expect(p.GlobalSecondaryIndexes).toEqual(
      tableShape.gsis.map((g) => ({
        IndexName: g.indexName,
        KeySchema: [
          { AttributeName: g.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: g.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: g.projection },
      })),
    );
    const attrs = [
      tableShape.partitionKey,
      tableShape.sortKey,
      ...tableShape.gsis.flatMap((g) => [g.partitionKey, g.sortKey]),
    ];
    expect(p.AttributeDefinitions).toEqual(
      attrs.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
    );
  });

  it('is retained when the stack is deleted', () => {
    const [[, table]] = ofType('AWS::DynamoDB::Table') as [[string, Resource & { DeletionPolicy?: string }]];
    expect(table.DeletionPolicy).toBe('Retain');
  });
});

describe('queues', () => {
  const check = (shape: QueueShape, queueId: string, dlqId: string) => {
    const q = props(queueId);
    const d = props(dlqId);
    const dlqShape = shape.deadLetter!;
    expect(q.VisibilityTimeout).toBe(shape.visibilityTimeoutSeconds);
    expect(q.MessageRetentionPeriod).toBe(shape.retentionPeriodSeconds);
    expect(q.RedrivePolicy).toEqual({
      deadLetterTargetArn: getAtt(dlqId),
      maxReceiveCount: shape.maxReceiveCount,
    });
    expect(d.VisibilityTimeout).toBe(dlqShape.visibilityTimeoutSeconds);
    expect(d.MessageRetentionPeriod).toBe(dlqShape.retentionPeriodSeconds);
    expect(d.RedrivePolicy).toBeUndefined();
    for (const [p, sh] of [
      [q, shape],
      [d, dlqShape],
    ] as const) {
      expect(p.SqsManagedSseEnabled).toBe(true);
      if (sh.fifo) {
        expect(p.FifoQueue).toBe(true);
        expect(p.ContentBasedDeduplication).toBe(sh.contentBasedDeduplication);
      } else {
        expect(p.FifoQueue).toBeUndefined();
      }
    }
  };

  it('order queue: FIFO, no content-based dedup, DLQ redrive after maxReceiveCount, as in the shape', () => {
    check(
      orderQueueShape,
      logicalId(s.stack, s.stack.orderQueue.queue),
      logicalId(s.stack, s.stack.orderQueue.deadLetterQueue),
    );
  });

  it('signals queue: standard with its DLQ, as in the shape', () => {
    check(
      signalsQueueShape,
      logicalId(s.stack, s.stack.signalsQueue.queue),
      logicalId(s.stack, s.stack.signalsQueue.deadLetterQueue),
    );
  });

  it('every queue refuses requests without TLS', () => {
    const queues = ofType('AWS::SQS::Queue').map(([id]) => id);
    expect(queues).toHaveLength(4);
    const policies = ofType('AWS::SQS::QueuePolicy');
    for (const id of queues) {
      const p = policies.find(([, r]) =>
        (r.Properties?.Queues as unknown[]).some((x) => JSON.stringify(x) === JSON.stringify({ Ref: id })),
      );
      expect(p, id).toBeDefined();
      expect(JSON.stringify(p![1].Properties!.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    }
  });
});

describe('functions', () => {
  it('one function per handler, each Node 22 on arm64 with X-Ray, its memory and timeout', () => {
    const fns = ofType('AWS::Lambda::Function');
    expect(fns).toHaveLength(HANDLER_KEYS.length);
    for (const key of HANDLER_KEYS) {
      const p = props(logicalId(s.stack, s.stack.handlers[key].fn));
      expect(p.Runtime, key).toBe('nodejs22.x');
      expect(p.Architectures, key).toEqual(['arm64']);
      expect(p.TracingConfig, key).toEqual({ Mode: 'Active' });
      expect(p.MemorySize, key).toBe(HANDLERS[key].memoryMb);
      expect(p.Timeout, key).toBe(HANDLERS[key].timeoutSeconds);
      const env = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(env.POWERTOOLS_SERVICE_NAME, key).toBe(HANDLERS[key].service);
      expect(env.POWERTOOLS_METRICS_NAMESPACE, key).toBe('Tradewarden');
      expect(env.CONFIG_PARAMETER, key).toBe(CONFIG_PARAMETER_NAME);
      expect(env.TABLE_NAME, key).toEqual({ Ref: logicalId(s.stack, s.stack.table.table) });
    }
  });

  it('the SQS consumers time out within 1/6 of their queue visibility timeout', () => {
    expect(HANDLERS.orderExecutor.timeoutSeconds * 6).toBeLessThanOrEqual(
      orderQueueShape.visibilityTimeoutSeconds,
    );
    expect(HANDLERS.intakeSqs.timeoutSeconds * 6).toBeLessThanOrEqual(
      signalsQueueShape.visibilityTimeoutSeconds,
    );
  });

  it('only the functions that start executions know the state machine ARN; no environment variable names or holds a secret', () => {
    const secretIds = ofType('AWS::SecretsManager::Secret').map(([id]) => id);
    for (const key of HANDLER_KEYS) {
      const p = props(logicalId(s.stack, s.stack.handlers[key].fn));
      const env = (p.Environment as { Variables: Record<string, unknown> }).Variables;
      expect(Object.keys(env).sort(), key).toEqual(
        [
          'CONFIG_MAX_AGE_SECONDS',
          'CONFIG_PARAMETER',
          'NODE_OPTIONS',
          'POWERTOOLS_LOG_LEVEL',
          'POWERTOOLS_METRICS_NAMESPACE',
          'POWERTOOLS_SERVICE_NAME',
          'TABLE_NAME',
          ...(ACCESS[key].startExecution ? ['STATE_MACHINE_ARN'] : []),
          ...(key === 'reporter' ? ['REPORT_TOPIC_ARN'] : []),
        ].sort(),
      );
      const text = JSON.stringify(env);
      for (const id of secretIds) expect(text, key).not.toContain(id);
      expect(text, key).not.toMatch(/apiKey|password|secret/i);
    }
  });

  it('each function writes only to its own log group', () => {
    for (const key of HANDLER_KEYS) {
      const h = s.stack.handlers[key];
      const p = props(logicalId(s.stack, h.fn));
      expect(p.LoggingConfig).toEqual({ LogGroup: { Ref: logicalId(s.stack, h.logGroup) } });
    }
  });
});

/** Logical id of the alarm topic's KMS key. */
function topicKeyId(): string {
  const [found] = ofType('AWS::KMS::Key');
  expect(ofType('AWS::KMS::Key')).toHaveLength(1);
  return found![0];
}

describe('grants (least privilege per function)', () => {
  const table = () => logicalId(s.stack, s.stack.table.table);
  const sm = () => ({ Ref: logicalId(s.stack, s.stack.lifecycle.stateMachine) });
  const secretRefs = () =>
    [...s.stack.accounts.secrets.values()].map((x) => ({ Ref: logicalId(s.stack, x) }));

  for (const key of Object.keys(HANDLERS) as HandlerKey[]) {
    it(`${HANDLERS[key].service}: exactly the actions it needs, on exactly its resources`, () => {
      const h = s.stack.handlers[key];
      const access = ACCESS[key];
      const actual = grants(policyOfRole(logicalId(s.stack, h.role)));
      const expected = new Map<string, unknown[]>();
      const add = (actions: readonly string[], resources: unknown[]) => {
        for (const a of actions) expected.set(a, [...(expected.get(a) ?? []), ...resources]);
      };
      add(['logs:CreateLogStream', 'logs:PutLogEvents'], [getAtt(logicalId(s.stack, h.logGroup))]);
      add(['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], ['*']);
      add(TABLE_ACTIONS, [
        getAtt(table()),
        ...tableShape.gsis.map((g) => ({ 'Fn::Join': ['', [getAtt(table()), `/index/${g.indexName}`]] })),
      ]);
      add(
        ['ssm:GetParameter'],
        [
          {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':ssm:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':parameter',
                { Ref: logicalId(s.stack, s.stack.accounts.configParameter) },
              ],
            ],
          },
        ],
      );
      if (access.exchangeSecrets) add(['secretsmanager:GetSecretValue'], secretRefs());
      if (access.startExecution) add(['states:StartExecution'], [sm()]);
      if (access.taskResponse) add(TASK_RESPONSE_ACTIONS, [sm()]);
      if (key === 'reporter') {
        add(['sns:Publish'], [{ Ref: logicalId(s.stack, s.stack.monitoring.topic) }]);
        add(['kms:Decrypt', 'kms:GenerateDataKey'], [getAtt(topicKeyId())]);
      }
      const consumed =
        key === 'intakeSqs'
          ? s.stack.signalsQueue.queue
          : key === 'orderExecutor'
            ? s.stack.orderQueue.queue
            : undefined;
      if (consumed) {
        add(
          [
            'sqs:ReceiveMessage',
            'sqs:ChangeMessageVisibility',
            'sqs:GetQueueUrl',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
          ],
          [getAtt(logicalId(s.stack, consumed))],
        );
      }
      const expectedJson = new Map(
        [...expected].map(([a, rs]) => [a, rs.map((r) => JSON.stringify(r)).sort()]),
      );
      expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expectedJson));
    });
  }

  it('the state machine may invoke only Evaluate and LifecycleTask and send only to the order queue', () => {
    const roleArn = props(logicalId(s.stack, s.stack.lifecycle.stateMachine)).RoleArn as {
      'Fn::GetAtt': [string, string];
    };
    const actual = grants(policyOfRole(roleArn['Fn::GetAtt'][0]));
    expect(actual.get('lambda:InvokeFunction')).toEqual(
      [
        getAtt(logicalId(s.stack, s.stack.handlers.evaluate.fn)),
        getAtt(logicalId(s.stack, s.stack.handlers.lifecycleTask.fn)),
      ]
        .map((r) => JSON.stringify(r))
        .sort(),
    );
    expect(actual.get('sqs:SendMessage')).toEqual([
      JSON.stringify(getAtt(logicalId(s.stack, s.stack.orderQueue.queue))),
    ]);
    const wildcard = [...actual].filter(([, rs]) => rs.includes('"*"')).map(([a]) => a);
    expect(wildcard.every((a) => a.startsWith('logs:') || a.startsWith('xray:'))).toBe(true);
    expect([...actual.keys()].filter((a) => !wildcard.includes(a)).sort()).toEqual([
      'lambda:InvokeFunction',
      'sqs:SendMessage',
    ]);
  });
});

describe('state machine', () => {
  it('is STANDARD, logs ALL without execution data, traces with X-Ray', () => {
    const p = props(logicalId(s.stack, s.stack.lifecycle.stateMachine));
    expect(p.StateMachineType).toBe('STANDARD');
    expect(p.TracingConfiguration).toEqual({ Enabled: true });
    expect(p.LoggingConfiguration).toEqual({
      Level: 'ALL',
      IncludeExecutionData: false,
      Destinations: [
        { CloudWatchLogsLogGroup: { LogGroupArn: getAtt(logicalId(s.stack, s.stack.lifecycle.logGroup)) } },
      ],
    });
  });

  it('fills the three placeholders with the Evaluate and LifecycleTask ARNs and the order queue URL', () => {
    const p = props(logicalId(s.stack, s.stack.lifecycle.stateMachine));
    expect(Object.keys(p.DefinitionSubstitutions as object).sort()).toEqual([...SUBSTITUTIONS].sort());
    expect(p.DefinitionSubstitutions).toEqual({
      EvaluateFunctionArn: getAtt(logicalId(s.stack, s.stack.handlers.evaluate.fn)),
      LifecycleTaskFunctionArn: getAtt(logicalId(s.stack, s.stack.handlers.lifecycleTask.fn)),
      OrderQueueUrl: { Ref: logicalId(s.stack, s.stack.orderQueue.queue) },
    });
    expect(typeof p.DefinitionString).toBe('string');
  });
});

describe('signals ingress', () => {
  it('POST /signals requires IAM auth and invokes intake-http', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /signals',
      AuthorizationType: 'AWS_IAM',
    });
    expect(ofType('AWS::ApiGatewayV2::Route')).toHaveLength(1 + OPERATOR_ROUTES.length);
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Integration', {
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: getAtt(logicalId(s.stack, s.stack.handlers.intakeHttp.fn)),
      PayloadFormatVersion: '2.0',
    });
  });

  it('every operator route requires IAM auth and invokes the api function (payload v2)', () => {
    const routes = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties!);
    const apiIntegration = ofType('AWS::ApiGatewayV2::Integration').find(
      ([, r]) =>
        JSON.stringify(r.Properties!.IntegrationUri) ===
        JSON.stringify(getAtt(logicalId(s.stack, s.stack.handlers.api.fn))),
    );
    expect(apiIntegration?.[1].Properties).toMatchObject({
      IntegrationType: 'AWS_PROXY',
      PayloadFormatVersion: '2.0',
    });
    for (const [method, path] of OPERATOR_ROUTES) {
      const r = routes.find((p) => p.RouteKey === `${method} ${path}`);
      expect(r, `${method} ${path}`).toMatchObject({
        AuthorizationType: 'AWS_IAM',
        Target: { 'Fn::Join': ['', ['integrations/', { Ref: apiIntegration![0] }]] },
      });
    }
  });

  it('the stack outputs the API endpoint and the reconciler and reporter function names', () => {
    const outputs = s.json.Outputs as Record<string, { Value: unknown }>;
    expect(outputs.ApiEndpoint?.Value).toEqual(
      getAtt(logicalId(s.stack, s.stack.ingress.api), 'ApiEndpoint'),
    );
    expect(outputs.ReconcilerFunctionName?.Value).toEqual({
      Ref: logicalId(s.stack, s.stack.handlers.reconciler.fn),
    });
    expect(outputs.ReporterFunctionName?.Value).toEqual({
      Ref: logicalId(s.stack, s.stack.handlers.reporter.fn),
    });
  });

  it('the default stage logs every request and is throttled', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: getAtt(logicalId(s.stack, s.stack.ingress.accessLogs)),
        Format: Match.stringLikeRegexp('requestId'),
      },
      DefaultRouteSettings: { ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
    });
  });

  it('the signals queue feeds intake-sqs and the order queue feeds the order executor, with partial batch failures', () => {
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(logicalId(s.stack, s.stack.signalsQueue.queue)),
      FunctionName: { Ref: logicalId(s.stack, s.stack.handlers.intakeSqs.fn) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(logicalId(s.stack, s.stack.orderQueue.queue)),
      FunctionName: { Ref: logicalId(s.stack, s.stack.handlers.orderExecutor.fn) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(ofType('AWS::Lambda::EventSourceMapping')).toHaveLength(2);
  });

  it('each SQS consumer times out in at most 1/6 of its queue visibility; the order executor takes one command at a time', () => {
    const res = s.json.Resources;
    const consumers: [
      { queue: { node: { defaultChild?: unknown } } },
      { fn: { node: { defaultChild?: unknown } } },
    ][] = [
      [s.stack.signalsQueue, s.stack.handlers.intakeSqs],
      [s.stack.orderQueue, s.stack.handlers.orderExecutor],
    ];
    for (const [queue, handler] of consumers) {
      const visibility = Number(res[logicalId(s.stack, queue.queue)]!.Properties!.VisibilityTimeout);
      const timeout = Number(res[logicalId(s.stack, handler.fn)]!.Properties!.Timeout);
      expect(timeout * 6).toBeLessThanOrEqual(visibility);
    }
    // A limit entry waits up to orderTimeoutSeconds (30 s) plus read retries (1 + 2 + 4 s) inside one invocation.
    expect(
      Number(res[logicalId(s.stack, s.stack.handlers.orderExecutor.fn)]!.Properties!.Timeout),
    ).toBeGreaterThanOrEqual(45);
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(logicalId(s.stack, s.stack.orderQueue.queue)),
      BatchSize: 1,
    });
  });
});

describe('schedules', () => {
  const workers: [string, HandlerKey][] = [
    ['stop-manager', 'stopManager'],
    ['milestone-checker', 'milestoneChecker'],
    ['lifecycle-watch', 'lifecycleWatch'],
  ];

  it('exactly the three worker schedules, the reconciler and the reporter schedules exist', () => {
    expect(ofType('AWS::Scheduler::Schedule')).toHaveLength(workers.length + 2);
  });

  const periodic: [string, HandlerKey, string, number][] = [
    ['reconciler', 'reconciler', 'rate(5 minutes)', 300],
    ['reporter', 'reporter', 'cron(5 0 * * ? *)', 86_400],
  ];
  for (const [name, key, expression, maxAge] of periodic) {
    it(`${name}: ${expression}, no flexible window, no retries, a scheduled event, a role that invokes only it`, () => {
      const fnId = logicalId(s.stack, s.stack.handlers[key].fn);
      const [found] = ofType('AWS::Scheduler::Schedule').filter(
        ([, r]) =>
          JSON.stringify((r.Properties!.Target as { Arn: unknown }).Arn) === JSON.stringify(getAtt(fnId)),
      );
      const p = found![1].Properties!;
      expect(p.ScheduleExpression).toBe(expression);
      expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
      const target = p.Target as {
        Input: string;
        RetryPolicy: unknown;
        RoleArn: { 'Fn::GetAtt': [string, string] };
      };
      expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: maxAge });
      expect(JSON.parse(target.Input)).toMatchObject({
        'detail-type': 'Scheduled Event',
        detail: { worker: name },
      });
      expect(Object.fromEntries(grants(policyOfRole(target.RoleArn['Fn::GetAtt'][0])))).toEqual({
        'lambda:InvokeFunction': [JSON.stringify(getAtt(fnId))],
      });
    });
  }

  it('the reconciler times out before its account lease (240 s) expires', () => {
    expect(HANDLERS.reconciler.timeoutSeconds * 1000).toBeLessThan(240_000);
  });

  for (const [name, key] of workers) {
    it(`${name}: every minute, no flexible window, no retries, a scheduled event, a role that invokes only it`, () => {
      const fnId = logicalId(s.stack, s.stack.handlers[key].fn);
      const [found] = ofType('AWS::Scheduler::Schedule').filter(
        ([, r]) =>
          JSON.stringify((r.Properties!.Target as { Arn: unknown }).Arn) === JSON.stringify(getAtt(fnId)),
      );
      expect(found).toBeDefined();
      const p = found![1].Properties!;
      expect(p.ScheduleExpression).toBe('rate(1 minute)');
      expect(p.FlexibleTimeWindow).toEqual({ Mode: 'OFF' });
      expect(p.State).toBe('ENABLED');
      const target = p.Target as {
        Input: string;
        RetryPolicy: unknown;
        RoleArn: { 'Fn::GetAtt': [string, string] };
      };
      expect(target.RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
      expect(JSON.parse(target.Input)).toMatchObject({
        'detail-type': 'Scheduled Event',
        detail: { worker: name },
      });
      const roleId = target.RoleArn['Fn::GetAtt'][0];
      expect(Object.fromEntries(grants(policyOfRole(roleId)))).toEqual({
        'lambda:InvokeFunction': [JSON.stringify(getAtt(fnId))],
      });
      const trust = props(roleId).AssumeRolePolicyDocument as {
        Statement: { Principal: unknown; Condition: unknown }[];
      };
      expect(trust.Statement[0]!.Principal).toEqual({ Service: 'scheduler.amazonaws.com' });
      expect(JSON.stringify(trust.Statement[0]!.Condition)).toContain('aws:SourceAccount');
    });
  }
});

describe('alarms', () => {
  const alarms = () => ofType('AWS::CloudWatch::Alarm').map(([, r]) => r.Properties!);
  const byName = (suffix: string) => {
    const a = alarms().find((p) => p.AlarmName === `Tradewarden-${suffix}`);
    if (!a) throw new Error(`no alarm Tradewarden-${suffix}`);
    return a;
  };
  const topic = () => ({ Ref: logicalId(s.stack, s.stack.monitoring.topic) });

  it('there are exactly the DLQ, handler-error, execution and engine alarms, all notifying the topic', () => {
    expect(alarms()).toHaveLength(2 + HANDLER_KEYS.length + 2 + ENGINE_ALARMS.length);
    for (const a of alarms()) {
      expect(a.AlarmActions).toEqual([topic()]);
      expect(a.OKActions).toEqual([topic()]);
      expect(a.ComparisonOperator).toBe('GreaterThanThreshold');
      expect(a.EvaluationPeriods).toBe(1);
      expect(a.TreatMissingData).toBe('notBreaching');
    }
  });

  it('DLQ not empty: visible messages > 0 on each dead-letter queue', () => {
    for (const [name, q] of [
      ['orders', s.stack.orderQueue.deadLetterQueue],
      ['signals', s.stack.signalsQueue.deadLetterQueue],
    ] as const) {
      expect(byName(`DlqNotEmpty-${name}`)).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Statistic: 'Maximum',
        Period: 60,
        Threshold: 0,
        Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalId(s.stack, q), 'QueueName') }],
      });
    }
  });

  it('handler errors: Errors > 0 per function', () => {
    for (const key of HANDLER_KEYS) {
      expect(byName(`HandlerErrors-${HANDLERS[key].service}`)).toMatchObject({
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Statistic: 'Sum',
        Threshold: 0,
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(s.stack, s.stack.handlers[key].fn) } }],
      });
    }
  });

  it('failed and timed-out executions > 0', () => {
    const dims = [
      { Name: 'StateMachineArn', Value: { Ref: logicalId(s.stack, s.stack.lifecycle.stateMachine) } },
    ];
    expect(byName('ExecutionsFailed')).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsFailed',
      Threshold: 0,
      Dimensions: dims,
    });
    expect(byName('ExecutionsTimedOut')).toMatchObject({
      Namespace: 'AWS/States',
      MetricName: 'ExecutionsTimedOut',
      Threshold: 0,
      Dimensions: dims,
    });
  });

  it('fill→stop latency: max FillToStopLatencyMs of the order executor > 1000 ms', () => {
    expect(byName('FillToStopLatency')).toMatchObject({
      Namespace: 'Tradewarden',
      MetricName: 'FillToStopLatencyMs',
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1000,
      Dimensions: [{ Name: 'Service', Value: 'order-executor' }],
    });
  });

  const multi: [string, string, string[]][] = [
    ['UnprotectedPosition', 'UnprotectedPositions', ['lifecycle-watch', 'stop-manager']],
    [
      'BreakerOpen',
      'BreakerOpen',
      ['order-executor', 'stop-manager', 'lifecycle-watch', 'lifecycle-task', 'evaluate'],
    ],
    ['TickOverBudget', 'TickOverBudget', ['stop-manager', 'milestone-checker', 'lifecycle-watch']],
  ];
  for (const [id, metric, services] of multi) {
    it(`${id}: MAX of ${metric} across ${services.join(', ')} > 0`, () => {
      const a = byName(id);
      expect(a.Threshold).toBe(0);
      const metrics = a.Metrics as {
        Id: string;
        Expression?: string;
        ReturnData?: boolean;
        MetricStat?: unknown;
      }[];
      const expr = metrics.find((m) => m.Expression);
      expect(expr?.Expression).toBe(`MAX([${services.map((_, i) => `m${i}`).join(', ')}])`);
      const stats = metrics.filter((m) => m.MetricStat).map((m) => ({ id: m.Id, stat: m.MetricStat }));
      expect(stats).toEqual(
        services.map((service, i) => ({
          id: `m${i}`,
          stat: {
            Metric: {
              Namespace: 'Tradewarden',
              MetricName: metric,
              Dimensions: [{ Name: 'Service', Value: service }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        })),
      );
    });
  }

  it('reconciliation mismatches: max ReconciliationMismatches of the reconciler > 0', () => {
    expect(byName('ReconciliationMismatches')).toMatchObject({
      Namespace: 'Tradewarden',
      MetricName: 'ReconciliationMismatches',
      Statistic: 'Maximum',
      Threshold: 0,
      Dimensions: [{ Name: 'Service', Value: 'reconciler' }],
    });
  });

  it('the topic is KMS-encrypted, TLS-only, and mails the AlarmEmail parameter', () => {
    expect(s.json.Parameters).toMatchObject({ AlarmEmail: { Type: 'String' } });
    const topicProps = props(logicalId(s.stack, s.stack.monitoring.topic));
    expect(topicProps.KmsMasterKeyId).toBeDefined();
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: { Ref: 'AlarmEmail' },
      TopicArn: topic(),
    });
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('a dashboard exists', () => {
    expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
  });
});

describe('secrets and configuration', () => {
  it('one secret per non-paper account, named by account, with a generated placeholder (no key material)', () => {
    const secrets = ofType('AWS::SecretsManager::Secret').map(([, r]) => r.Properties!);
    expect(secrets.map((p) => p.Name).sort()).toEqual([secretNameFor('hedge'), secretNameFor('main')]);
    for (const p of secrets) {
      expect(p.SecretString).toBeUndefined();
      expect(p.GenerateSecretString).toEqual({});
    }
  });

  it('the configuration parameter holds a valid config whose accounts name their secrets', () => {
    const params = ofType('AWS::SSM::Parameter').map(([, r]) => r.Properties!);
    expect(params).toHaveLength(1);
    expect(params[0]!.Name).toBe(CONFIG_PARAMETER_NAME);
    const raw = JSON.parse(params[0]!.Value as string) as Parameters<typeof parseConfig>[0];
    const config = parseConfig(raw);
    expect(config.accounts.get('main')?.secretName).toBe(secretNameFor('main'));
    expect(config.accounts.get('hedge')?.secretName).toBe(secretNameFor('hedge'));
    expect(config.accounts.get('demo')?.exchange).toBe('paper');
    expect(config.accounts.get('demo')?.secretName).toBeUndefined();
  });
});

describe('cdk-nag AwsSolutions', () => {
  interface Report {
    pluginReports: {
      pluginName: string;
      conclusion: string;
      violations: unknown[];
      suppressedViolations?: { ruleName: string; reason: string; acknowledgedId: string }[];
    }[];
  }
  const report = (): Report =>
    JSON.parse(readFileSync(join(s.outdir, 'validation-report.json'), 'utf8')) as Report;

  it('ran during synthesis with zero unacknowledged findings', () => {
    const r = report().pluginReports.find((p) => p.pluginName === 'AwsSolutions');
    expect(r?.conclusion).toBe('success');
    expect(r?.violations).toEqual([]);
  });

  it('acknowledges only the three justified rules, each with a specific reason', () => {
    const suppressed =
      report().pluginReports.find((p) => p.pluginName === 'AwsSolutions')!.suppressedViolations ?? [];
    expect([...new Set(suppressed.map((v) => v.ruleName))].sort()).toEqual([
      'AwsSolutions-IAM5[Resource::*]',
      'AwsSolutions-L1',
      'AwsSolutions-SMG4',
    ]);
    for (const v of suppressed) expect(v.reason.length, v.ruleName).toBeGreaterThan(60);
  });
});
