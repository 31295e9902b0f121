/**
 * The one allowed mock: a fault-injecting wrapper around a DynamoDB client's `send`. It lets the
 * real emulator perform a write and then "kills the process" — the caller sees a CrashError and every
 * later call of this wrapper fails too — which the real emulator cannot be made to do.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoSender } from '../../functions/adapters/dynamodb/trade-store.js';

/** Thrown by a crashed writer. */
export class CrashError extends Error {
  constructor(where: string) {
    super(`injected crash ${where}`);
    this.name = 'CrashError';
  }
}

const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);

/** Whether a command object is a DynamoDB write. */
export function isWrite(command: unknown): boolean {
  return WRITES.has((command as { constructor: { name: string } }).constructor.name);
}

/** A client that crashes right after its `crashAfterWrite`-th write (1-based) has been applied. */
export function crashingClient(
  client: DynamoDBClient,
  crashAfterWrite: number,
): DynamoSender & { writes: number; crashed: boolean } {
  const state = {
    writes: 0,
    crashed: false,
    send: (async (command: unknown) => {
      if (state.crashed) throw new CrashError('(process already dead)');
      const write = isWrite(command);
      let out: unknown;
      try {
        out = await (client.send as (c: unknown) => Promise<unknown>)(command);
      } finally {
        if (write) {
          state.writes += 1;
          if (state.writes === crashAfterWrite) state.crashed = true;
        }
      }
      if (state.crashed) throw new CrashError(`after write ${crashAfterWrite}`);
      return out;
    }) as DynamoDBClient['send'],
  };
  return state;
}
