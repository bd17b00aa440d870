import fc from 'fast-check';
import { ContainerIdError, U64_MAX, formatContainerId, parseContainerId, toContainerId } from '@contid/core';

describe('ContainerId', () => {
  it('round-trips every valid u64 through decimal text', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: U64_MAX - 1n }), (n) => {
        expect(parseContainerId(formatContainerId(toContainerId(n)))).toBe(n);
      }),
    );
  });

  it('accepts the extremes that are not reserved', () => {
    expect(parseContainerId('1')).toBe(1n);
    expect(parseContainerId('18446744073709551614')).toBe(U64_MAX - 1n);
  });

  it.each([
    ['0', /reserved/],
    ['18446744073709551615', /reserved/],
    ['18446744073709551616', /larger than 2\^64-1/],
    ['99999999999999999999999', /larger than 2\^64-1/],
    ['-1', /negative/],
    ['0x10', /not a decimal number/],
    ['12a', /not a decimal number/],
    [' 12', /not a decimal number/],
    ['', /not a decimal number/],
    ['1e5', /not a decimal number/],
  ])('rejects %j with a clear error', (text, message) => {
    expect(() => parseContainerId(text)).toThrow(ContainerIdError);
    expect(() => parseContainerId(text)).toThrow(message);
  });

  it('never accepts arbitrary non-digit text', () => {
    fc.assert(
      fc.property(fc.string().filter((s) => !/^[0-9]+$/.test(s)), (s) => {
        expect(() => parseContainerId(s)).toThrow(ContainerIdError);
      }),
    );
  });
});
