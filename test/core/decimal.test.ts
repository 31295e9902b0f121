import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { D, dcmp, dec, decStr, roundToStep } from '../../functions/core/decimal.js';

describe('decimal helpers', () => {
  it('roundToStep rounds to the step in the asked direction, zero step leaves the value', () => {
    expect(roundToStep(new D('27107.865'), new D('0.1'), 'up').toFixed()).toBe('27107.9');
    expect(roundToStep(new D('27107.865'), new D('0.1'), 'down').toFixed()).toBe('27107.8');
    expect(roundToStep(new D('-1.25'), new D('0.1'), 'down').toFixed()).toBe('-1.3');
    expect(roundToStep(new D('0.0090271'), new D('0.001'), 'down').toFixed()).toBe('0.009');
    expect(roundToStep(new D('1.2345'), new D(0), 'up').toFixed()).toBe('1.2345');
  });

  it('property: roundToStep is the nearest multiple of the step on the asked side', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }),
        fc.constantFrom('0.1', '0.01', '0.001', '0.00001', '1', '5', '0.25'),
        fc.constantFrom<'up' | 'down'>('up', 'down'),
        (m, stepText, direction) => {
          const value = new D(m.toString()).div(1e6);
          const step = new D(stepText);
          const r = roundToStep(value, step, direction);
          expect(r.mod(step).isZero()).toBe(true);
          if (direction === 'up') expect(r.gte(value) && r.minus(step).lt(value)).toBe(true);
          else expect(r.lte(value) && r.plus(step).gt(value)).toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('dec rejects non-numbers and infinities with the field name', () => {
    expect(() => dec('abc', 'price')).toThrow('price is not a decimal number: abc');
    expect(() => dec(Infinity, 'qty')).toThrow('qty must be finite, got Infinity');
    expect(decStr(dec('1e-8'))).toBe('0.00000001');
  });

  it('dcmp agrees with decimal.js cmp on hand-picked edges', () => {
    const pairs: [string, string][] = [
      ['0', '-0'],
      ['0', '1e-30'],
      ['-1e-30', '0'],
      ['27000', '27000.0000001'],
      ['10000000', '9999999.9999999'],
      ['-5', '-50'],
      ['1.00000000000001', '1'],
      ['123456789.123456789', '123456789.123456788'],
    ];
    for (const [a, b] of pairs) {
      expect(dcmp(new D(a), new D(b))).toBe(new D(a).cmp(new D(b)));
      expect(dcmp(new D(b), new D(a))).toBe(new D(b).cmp(new D(a)));
    }
  });

  it('property: dcmp equals decimal.js cmp for any finite decimals', () => {
    const decimal = fc
      .tuple(fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }), fc.integer({ min: 0, max: 25 }))
      .map(([m, s]) => new D(m.toString()).div(new D(10).pow(s)));
    fc.assert(
      fc.property(decimal, decimal, (a, b) => {
        expect(dcmp(a, b)).toBe(a.cmp(b));
        expect(dcmp(a, a)).toBe(0);
      }),
      { numRuns: 5000 },
    );
  });
});
