/**
 * The trade-lifecycle state machine: a Standard workflow (one execution per trade, named by the trade id)
 * defined by `statemachines/trade-lifecycle.asl.json`, whose `${Placeholder}` resources are filled by
 * DefinitionSubstitutions. Logs every event to CloudWatch Logs without execution data (inputs and outputs
 * may hold order details), and traces with X-Ray.
 */
import { readFileSync } from 'node:fs';
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';

/** The placeholders the ASL may use, each filled by the stack. */
export const SUBSTITUTIONS = ['EvaluateFunctionArn', 'LifecycleTaskFunctionArn', 'OrderQueueUrl'] as const;

/** Every `${Name}` placeholder in an ASL text, sorted, without duplicates. */
export function placeholdersIn(asl: string): string[] {
  return [...new Set([...asl.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1] ?? ''))].sort();
}

/**
 * Reads and checks an ASL file: valid JSON with `StartAt` and `States`, and no placeholder other than
 * {@link SUBSTITUTIONS}. Returns its text. Throws an Error naming the file and the problem.
 */
export function loadDefinition(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`cannot synthesize the Tradewarden stack: state machine definition ${file} is missing`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`state machine definition ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const p = parsed as { StartAt?: unknown; States?: unknown };
  if (typeof p.StartAt !== 'string' || typeof p.States !== 'object' || p.States === null) {
    throw new Error(`state machine definition ${file} has no StartAt/States`);
  }
  const unknown = placeholdersIn(text).filter((n) => !(SUBSTITUTIONS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    throw new Error(
      `state machine definition ${file} uses placeholder(s) ${unknown.map((n) => `\${${n}}`).join(', ')}; ` +
        `the stack fills only ${SUBSTITUTIONS.map((n) => `\${${n}}`).join(', ')}`,
    );
  }
  return text;
}

/** Properties of {@link LifecycleStateMachine}. */
export interface LifecycleStateMachineProps {
  /** Path of the ASL file. */
  readonly definitionFile: string;
  readonly evaluate: lambda.IFunction;
  readonly lifecycleTask: lambda.IFunction;
  readonly orderQueue: sqs.IQueue;
}

/** The Standard state machine with logging, tracing and a role limited to its three resources. */
export class LifecycleStateMachine extends Construct {
  readonly stateMachine: sfn.StateMachine;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: LifecycleStateMachineProps) {
    super(scope, id);
    const definition = loadDefinition(props.definitionFile);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineType: sfn.StateMachineType.STANDARD,
      definitionBody: sfn.DefinitionBody.fromString(definition),
      definitionSubstitutions: {
        EvaluateFunctionArn: props.evaluate.functionArn,
        LifecycleTaskFunctionArn: props.lifecycleTask.functionArn,
        OrderQueueUrl: props.orderQueue.queueUrl,
      },
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    // The definition is a string, so CDK cannot infer the task permissions: grant exactly these.
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.evaluate.functionArn, props.lifecycleTask.functionArn],
      }),
    );
    this.stateMachine.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['sqs:SendMessage'], resources: [props.orderQueue.queueArn] }),
    );
    Validations.of(this.stateMachine).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Step Functions log delivery (logs:CreateLogDelivery, logs:*LogDelivery*, logs:PutResourcePolicy, ' +
        'logs:DescribeResourcePolicies, logs:DescribeLogGroups) and X-Ray (xray:PutTraceSegments, ' +
        'xray:PutTelemetryRecords, xray:GetSampling*) do not support resource-level permissions.',
    });
  }
}
