/**
 * The workflow port on AWS Step Functions (@aws-sdk/client-sfn): executions are named by the trade id, so
 * `ExecutionAlreadyExists` means the trade's execution was started before (`started: false`). Callbacks to a
 * task that is already finished or timed out (`TaskTimedOut`, `TaskDoesNotExist`, `InvalidToken`) answer
 * `delivered: false` instead of throwing, so a redelivered order command can answer again harmlessly.
 */
import { SendTaskFailureCommand, SendTaskSuccessCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { SFNClient } from '@aws-sdk/client-sfn';
import type { CallbackResult, StartExecutionResult, WorkflowPort } from '../../ports/workflow.js';

/** The part of an SFN client the adapter uses. */
export interface SfnSender {
  send: SFNClient['send'];
}

/** Step Functions limits: error ≤ 256 characters, cause ≤ 32 768, execution names ≤ 80 of [A-Za-z0-9-_.]… */
const ERROR_MAX = 256;
const CAUSE_MAX = 32_768;
const NAME_RE = /^[A-Za-z0-9_.-]{1,80}$/;

const GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

function errorName(e: unknown): string {
  return e instanceof Error ? e.name : '';
}

/** {@link WorkflowPort} on one Standard state machine. */
export class SfnWorkflow implements WorkflowPort {
  /** `stateMachineArn` is needed only to start executions (callbacks identify the task by its token). */
  constructor(private readonly opts: { client: SfnSender; stateMachineArn?: string }) {
    if (opts.stateMachineArn !== undefined && !opts.stateMachineArn.startsWith('arn:'))
      throw new TypeError(`stateMachineArn must be an ARN, got ${opts.stateMachineArn}`);
  }

  async startExecution(name: string, input: Record<string, unknown>): Promise<StartExecutionResult> {
    if (this.opts.stateMachineArn === undefined)
      throw new TypeError('this workflow adapter has no stateMachineArn (env STATE_MACHINE_ARN)');
    if (!NAME_RE.test(name))
      throw new RangeError(`execution name must be 1–80 of letters, digits, "_", "." or "-", got ${name}`);
    try {
      await this.opts.client.send(
        new StartExecutionCommand({
          stateMachineArn: this.opts.stateMachineArn,
          name,
          input: JSON.stringify(input),
        }),
      );
      return { started: true };
    } catch (e) {
      if (errorName(e) === 'ExecutionAlreadyExists') return { started: false };
      throw e;
    }
  }

  async sendTaskSuccess(token: string, output: Record<string, unknown>): Promise<CallbackResult> {
    try {
      await this.opts.client.send(
        new SendTaskSuccessCommand({ taskToken: token, output: JSON.stringify(output) }),
      );
      return { delivered: true };
    } catch (e) {
      if (GONE.has(errorName(e))) return { delivered: false };
      throw e;
    }
  }

  async sendTaskFailure(token: string, error: string, cause: string): Promise<CallbackResult> {
    try {
      await this.opts.client.send(
        new SendTaskFailureCommand({
          taskToken: token,
          error: error.slice(0, ERROR_MAX),
          cause: cause.slice(0, CAUSE_MAX),
        }),
      );
      return { delivered: true };
    } catch (e) {
      if (GONE.has(errorName(e))) return { delivered: false };
      throw e;
    }
  }
}
