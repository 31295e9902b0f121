/**
 * The local cost model prices each handler invocation at the memory the stack gives that function, so its
 * table must hold every handler of the stack at the stack's memory size.
 */
import { describe, expect, it } from 'vitest';
import { HANDLERS } from '../../lib/tradewarden-stack.js';
import { HANDLER_MEMORY_MB, UsageCounter } from '../../local/runtime/cost-model.js';

describe('the cost model’s handler memory', () => {
  it('equals the memory of every handler in the stack', () => {
    const stack = Object.fromEntries(Object.values(HANDLERS).map((h) => [h.service, h.memoryMb]));
    expect(HANDLER_MEMORY_MB).toEqual(stack);
  });

  it('refuses an invocation of a handler it does not know', () => {
    expect(() => new UsageCounter().invocation('nope', 10)).toThrow('no memory size known for handler nope');
  });
});
