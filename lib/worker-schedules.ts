/**
 * EventBridge Scheduler schedules of the periodic workers. Each schedule invokes its handler with an
 * EventBridge-shaped scheduled event (`detail-type: "Scheduled Event"`, `time` = the scheduled time), so
 * handlers parse one event shape whether EventBridge rules, the Scheduler or the local runtime call them.
 * Schedules fire at most once per period: no retries (the next period is the retry) and an event older
 * than one period is dropped. Each schedule has its own role allowed to invoke exactly its function
 * (`lambda:InvokeFunction` on the function ARN, no version wildcard), assumable only by EventBridge
 * Scheduler on behalf of this account's default schedule group.
 */
import type { Duration } from 'aws-cdk-lib';
import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';

/** The input of every worker invocation: an EventBridge scheduled event with Scheduler context values. */
export function scheduledEventInput(workerName: string): Record<string, unknown> {
  return {
    version: '0',
    id: scheduler.ContextAttribute.executionId,
    'detail-type': 'Scheduled Event',
    source: 'aws.scheduler',
    time: scheduler.ContextAttribute.scheduledTime,
    resources: [scheduler.ContextAttribute.scheduleArn],
    detail: { worker: workerName, attempt: scheduler.ContextAttribute.attemptNumber },
  };
}

/** The schedules; {@link WorkerSchedules.addWorker} adds one per worker (the reconciler and the daily report use it too). */
export class WorkerSchedules extends Construct {
  readonly schedules = new Map<string, scheduler.Schedule>();

  /**
   * Invokes `fn` on `expression` (e.g. `rate(1 minute)`), with input {@link scheduledEventInput}.
   * `name` is the worker name (unique; letters, digits and dashes).
   */
  addWorker(
    name: string,
    fn: lambda.IFunction,
    expression: scheduler.ScheduleExpression,
    period: Duration,
  ): scheduler.Schedule {
    if (!/^[a-z][a-z0-9-]{0,40}$/.test(name)) {
      throw new RangeError(
        `worker name must be lowercase letters, digits and dashes, got ${JSON.stringify(name)}`,
      );
    }
    if (this.schedules.has(name)) throw new RangeError(`worker ${name} already has a schedule`);
    const stack = Stack.of(this);
    const role = new iam.Role(this, `${name}-role`, {
      description: `Lets EventBridge Scheduler invoke the ${name} worker`,
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: {
            'aws:SourceAccount': stack.account,
            'aws:SourceArn': stack.formatArn({
              service: 'scheduler',
              resource: 'schedule-group',
              resourceName: 'default',
            }),
          },
        },
      }),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }),
    );
    const target: scheduler.IScheduleTarget = {
      bind: () => ({
        arn: fn.functionArn,
        role,
        input: scheduler.ScheduleTargetInput.fromObject(scheduledEventInput(name)),
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: period.toSeconds() },
      }),
    };
    const schedule = new scheduler.Schedule(this, name, {
      description: `Tradewarden ${name} worker`,
      schedule: expression,
      timeWindow: scheduler.TimeWindow.off(),
      target,
    });
    this.schedules.set(name, schedule);
    return schedule;
  }
}
