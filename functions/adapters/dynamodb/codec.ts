/**
 * A small DynamoDB attribute codec for JSON values (S, N, BOOL, NULL, L, M), plus the input
 * validation the store applies before any write. `@aws-sdk/util-dynamodb` is not a dependency of this
 * project, so this replaces its `marshall`/`unmarshall` for the types the store uses.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import type { JsonMap, JsonValue } from '../../ports/trade-store.js';
import { InvalidInputError } from '../../ports/errors.js';

/** Maximum nesting depth accepted in a data map (DynamoDB allows 32 levels). */
export const MAX_DEPTH = 30;
/** Maximum encoded size of one data map, in bytes (the whole item must stay below DynamoDB's 400 KB). */
export const MAX_DATA_BYTES = 300_000;

/** Encodes a JSON value (already validated) as a DynamoDB attribute value. */
export function toAttr(value: JsonValue): AttributeValue {
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(toAttr) };
  return { M: toAttrMap(value) };
}

/** Encodes a JSON map as a DynamoDB item fragment. */
export function toAttrMap(value: JsonMap): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(value)) out[k] = toAttr(v);
  return out;
}

/** Decodes an attribute value; throws a TypeError naming `path` for types the store never writes. */
export function fromAttr(attr: AttributeValue, path = '$'): JsonValue {
  if (attr.S !== undefined) return attr.S;
  if (attr.N !== undefined) {
    const n = Number(attr.N);
    if (!Number.isFinite(n)) throw new TypeError(`${path}: number ${attr.N} does not fit a JS number`);
    return n;
  }
  if (attr.BOOL !== undefined) return attr.BOOL;
  if (attr.NULL !== undefined) return null;
  if (attr.L !== undefined) return attr.L.map((v, i) => fromAttr(v, `${path}[${i}]`));
  if (attr.M !== undefined) return fromAttrMap(attr.M, path);
  throw new TypeError(`${path}: unsupported attribute type ${Object.keys(attr).join(',')}`);
}

/** Decodes a DynamoDB map. */
export function fromAttrMap(m: Record<string, AttributeValue>, path = '$'): JsonMap {
  const out: JsonMap = {};
  for (const [k, v] of Object.entries(m)) out[k] = fromAttr(v, `${path}.${k}`);
  return out;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'object' && value !== null) {
    return `an instance of ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'an unknown class'}`;
  }
  return typeof value;
}

function checkJson(value: unknown, path: string, depth: number, field: string): void {
  if (depth > MAX_DEPTH) throw new InvalidInputError(field, `${path} nests deeper than ${MAX_DEPTH} levels`);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new InvalidInputError(
        field,
        `${path} is ${describe(value)}; numbers must be finite (decimals as strings)`,
      );
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkJson(v, `${path}[${i}]`, depth + 1, field));
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new InvalidInputError(
        field,
        `${path} is ${describe(value)}; only plain objects are stored (decimals must be strings)`,
      );
    }
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k.length === 0) throw new InvalidInputError(field, `${path} has an empty key`);
      checkJson(v, `${path}.${k}`, depth + 1, field);
    }
    return;
  }
  throw new InvalidInputError(field, `${path} is ${describe(value)}, which is not JSON-safe`);
}

/** Asserts `value` is a JSON-safe plain map of bounded size; throws InvalidInputError naming the path. */
export function assertJsonMap(value: unknown, field: string): asserts value is JsonMap {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidInputError(
      field,
      `expected a plain object, got ${Array.isArray(value) ? 'an array' : describe(value)}`,
    );
  }
  checkJson(value, '$', 0, field);
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_DATA_BYTES)
    throw new InvalidInputError(field, `encodes to ${bytes} bytes; the limit is ${MAX_DATA_BYTES}`);
}

/** Characters allowed in ids that become part of keys: printable ASCII except `#` (the key delimiter). */
const ID_RE = /^[\x21\x22\x24-\x7e]+$/;

/** Asserts `value` is a key-safe id: 1–`max` printable ASCII characters, no `#`, no whitespace. */
export function assertId(value: unknown, field: string, max = 128): asserts value is string {
  if (typeof value !== 'string')
    throw new InvalidInputError(field, `expected a string, got ${describe(value)}`);
  if (value.length === 0) throw new InvalidInputError(field, 'must not be empty');
  if (value.length > max)
    throw new InvalidInputError(field, `is ${value.length} characters; the limit is ${max}`);
  if (!ID_RE.test(value)) {
    throw new InvalidInputError(
      field,
      `${JSON.stringify(value)} may contain only printable ASCII without '#' or spaces`,
    );
  }
}

/** Asserts `value` is a non-empty string of at most `max` characters (free text, not part of a key). */
export function assertText(value: unknown, field: string, max = 256): asserts value is string {
  if (typeof value !== 'string')
    throw new InvalidInputError(field, `expected a string, got ${describe(value)}`);
  if (value.length === 0) throw new InvalidInputError(field, 'must not be empty');
  if (value.length > max)
    throw new InvalidInputError(field, `is ${value.length} characters; the limit is ${max}`);
}

/** Asserts `value` is an epoch-ms timestamp (a non-negative safe integer). */
export function assertEpochMs(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidInputError(
      field,
      `expected epoch milliseconds (a non-negative integer), got ${describe(value)}`,
    );
  }
}

/** Asserts `value` is an integer ≥ `min`. */
export function assertInt(value: unknown, field: string, min: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidInputError(field, `expected an integer ≥ ${min}, got ${describe(value)}`);
  }
}
