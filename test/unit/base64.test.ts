/** Base64 input checked in linear time, without a regular expression, with its decoded size read from its length. */
import { base64DecodedLength, isBase64 } from '../../src/api/base64';

/** The pattern the parser used before: right on short texts, so it is the reference for them. */
const OLD_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Every text of up to `max` characters over `alphabet`. */
function* texts(alphabet: string[], max: number): Generator<string> {
  yield '';
  let previous = [''];
  for (let length = 1; length <= max; length++) {
    const next = previous.flatMap((prefix) => alphabet.map((c) => prefix + c));
    yield* next;
    previous = next;
  }
}

describe('base64 input', () => {
  it('accepts exactly what the old pattern accepted, on every short text over letters, digits, +, /, = and strangers', () => {
    const disagreements: string[] = [];
    for (const text of texts(['A', 'z', '0', '+', '/', '=', '-', '_', ' ', '\n', 'é'], 5)) {
      if (isBase64(text) !== OLD_PATTERN.test(text)) disagreements.push(text);
    }
    expect(disagreements).toEqual([]);
  });

  it('reads the decoded size from the length and padding, as the decoder counts it', () => {
    for (const bytes of [0, 1, 2, 3, 4, 5, 6, 1000, 1001, 1002]) {
      const text = Buffer.alloc(bytes, 0xab).toString('base64');
      expect({ bytes, decoded: base64DecodedLength(text) }).toEqual({ bytes, decoded: Buffer.from(text, 'base64').length });
    }
    expect(base64DecodedLength('abc')).toBeUndefined();
    expect(base64DecodedLength('abcde')).toBeUndefined();
  });

  it('takes a text of millions of characters (the old pattern threw RangeError above 4,473,904)', () => {
    const text = Buffer.alloc(3_375_000, 0x5a).toString('base64');
    expect(text.length).toBe(4_500_000);
    expect(isBase64(text)).toBe(true);
    expect(isBase64(`${text.slice(0, -4)}ab=c`)).toBe(false);
  });
});
