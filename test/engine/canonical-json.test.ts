import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonBytes, compareUtf8 } from '../../engine/canonical-json.ts';
import { HyperspaceError } from '../../native/errors.ts';

function fromIeeeHex(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

describe('canonical JSON (RFC 8785)', () => {
  it('canonicalizes the example of RFC 8785 §3.2.2', () => {
    const input = JSON.parse(`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
      "literals": [null, true, false]
    }`);
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units as in RFC 8785 §3.2.3', () => {
    const input = JSON.parse(`{
      "\\u20ac": "Euro Sign",
      "\\r": "Carriage Return",
      "\\ufb33": "Hebrew Letter Dalet With Dagesh",
      "1": "One",
      "\\ud83d\\ude00": "Emoji: Grinning Face",
      "\\u0080": "Control",
      "\\u00f6": "Latin Small Letter O With Diaeresis"
    }`);
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('serializes the numbers of RFC 8785 Appendix B', () => {
    const cases: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [hex, expected] of cases) expect(canonicalJson(fromIeeeHex(hex))).toBe(expected);
  });

  it('rejects what JSON cannot say: NaN, Infinity, undefined, lone surrogates, class instances', () => {
    expect(() => canonicalJson(fromIeeeHex('7fffffffffffffff'))).toThrow('canonical JSON: number NaN is not finite');
    expect(() => canonicalJson(fromIeeeHex('7ff0000000000000'))).toThrow('canonical JSON: number Infinity is not finite');
    expect(() => canonicalJson({ a: undefined })).toThrow('canonical JSON: a undefined is not a JSON value');
    expect(() => canonicalJson('\ud800')).toThrow('canonical JSON: string contains a lone surrogate');
    expect(() => canonicalJson(new Date(0))).toThrow('canonical JSON: only plain objects, arrays and primitives are allowed');
    try {
      canonicalJson(Number.NaN);
    } catch (error) {
      expect(error).toBeInstanceOf(HyperspaceError);
      expect((error as HyperspaceError).kind).toBe('invalid');
    }
  });

  it('gives nested metadata the same bytes whatever the key order', () => {
    const a = canonicalJsonBytes({ b: [1, 'x'], a: { d: true, c: null } });
    const b = canonicalJsonBytes({ a: { c: null, d: true }, b: [1, 'x'] });
    expect(new TextDecoder().decode(a)).toBe('{"a":{"c":null,"d":true},"b":[1,"x"]}');
    expect(b).toEqual(a);
  });

  it('orders strings by UTF-8 bytes with compareUtf8', () => {
    const words = ['\uffff', '\ud83d\ude00', 'b', 'a', '', 'ab', '\u00e9', '\ue000'];
    const byBytes = [...words].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...words].sort(compareUtf8)).toEqual(byBytes);
  });
});
