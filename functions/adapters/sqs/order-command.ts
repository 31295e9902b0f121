/**
 * The runtime schema of an order command (the order queue's message body) and the SQS naming rules
 * its ids must satisfy: a deduplication id or message group id is 1–128 characters of letters, digits
 * and ASCII punctuation.
 */
import { z } from 'zod';
import type { OrderCommand } from '../../ports/order-queue.js';

/** Characters SQS allows in MessageDeduplicationId and MessageGroupId, 1–128 of them. */
export const SQS_ID_RE = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;

const id = (what: string, max = 128) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .max(max, `${what} must be at most ${max} characters`)
    .regex(/^[\x21\x22\x24-\x7e]+$/, `${what} may contain only printable ASCII without '#' or spaces`);

/** The order command schema (strict: unknown keys are rejected). */
export const OrderCommandSchema = z.strictObject({
  commandId: z
    .string()
    .regex(
      SQS_ID_RE,
      'commandId must be 1–128 letters, digits or ASCII punctuation (it is the deduplication id)',
    ),
  tradeId: id('tradeId'),
  accountId: id('accountId'),
  symbol: id('symbol', 64),
  type: z.enum(['ENTER', 'EXIT', 'PARTIAL_EXIT', 'PLACE_STOP', 'REPLACE_STOP', 'CANCEL_ORDER']),
  payload: z.record(z.string(), z.unknown()),
  taskToken: z.string().min(1).max(1024).optional(),
  issuedAt: z.iso.datetime({ message: 'issuedAt must be an ISO 8601 UTC timestamp' }),
});

// The schema and the port's interface describe the same shape (checked at compile time).
type Infer = z.infer<typeof OrderCommandSchema>;
const _toPort = (c: Infer): OrderCommand => c;
const _fromPort = (c: OrderCommand): Infer => c;
void _toPort;
void _fromPort;

/** A command that does not match {@link OrderCommandSchema}; `issues` lists each problem as `path: message`. */
export class InvalidOrderCommandError extends TypeError {
  constructor(readonly issues: string[]) {
    super(`invalid order command: ${issues.join('; ')}`);
    this.name = 'InvalidOrderCommandError';
  }
}

/** Validates an unknown value as an order command; throws InvalidOrderCommandError listing every issue. */
export function parseOrderCommand(value: unknown): OrderCommand {
  const res = OrderCommandSchema.safeParse(value);
  if (!res.success) {
    throw new InvalidOrderCommandError(
      res.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`),
    );
  }
  const groupId = messageGroupId(res.data);
  if (!SQS_ID_RE.test(groupId)) {
    throw new InvalidOrderCommandError([
      `accountId#symbol: message group id ${JSON.stringify(groupId)} is not a valid SQS id`,
    ]);
  }
  return res.data;
}

/** Parses a message body (JSON text) as an order command. */
export function parseOrderCommandBody(body: string): OrderCommand {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    throw new InvalidOrderCommandError([`(body): not JSON (${(e as Error).message})`]);
  }
  return parseOrderCommand(value);
}

/** The FIFO message group of a command: one group per account and symbol. */
export function messageGroupId(command: Pick<OrderCommand, 'accountId' | 'symbol'>): string {
  return `${command.accountId}#${command.symbol}`;
}
