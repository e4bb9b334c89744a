import { encodeExact, encodeOutput, jsonEscapedBytes, MAX_ESCAPE_RATIO } from '../../src/sandbox/encoding';

const escapedInJson = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;

describe('jsonEscapedBytes', () => {
  it.each([
    ['plain ascii'],
    ['quotes " and \\ backslashes'],
    ['\n\r\t\b\f'],
    ['\u0000\u0001\u001f\u007f'],
    ['ünïcödé and 漢字 and 😀'],
    ['\u2028\u2029'],
  ])('counts what JSON.stringify writes for %j', (text) => {
    expect(jsonEscapedBytes(Buffer.from(text))).toBe(escapedInJson(text));
  });
});

describe('encodeOutput', () => {
  it('keeps ordinary text as utf8, even newline-heavy and short-lined text', () => {
    expect(encodeOutput(Buffer.from('0\n1\n2\n3\n'))).toEqual({ encoding: 'utf8', content: '0\n1\n2\n3\n' });
    expect(encodeOutput(Buffer.from('\n'.repeat(100))).encoding).toBe('utf8');
    expect(encodeOutput(Buffer.from('\u001b[31mred\u001b[0m\n')).encoding).toBe('utf8');
  });

  it('turns a stray invalid byte into U+FFFD but keeps the text', () => {
    expect(encodeOutput(Buffer.from([0x61, 0xff, 0x62]))).toEqual({ encoding: 'utf8', content: 'a\uFFFDb' });
  });

  it('sends control-byte floods and binary as exact base64', () => {
    const control = Buffer.alloc(1000, 1);
    expect(encodeOutput(control)).toEqual({ encoding: 'base64', content: control.toString('base64') });
    const binary = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    expect(encodeOutput(binary)).toEqual({ encoding: 'base64', content: binary.toString('base64') });
  });

  it('never costs more than twice the bytes in JSON', () => {
    for (const bytes of [
      Buffer.alloc(999, 0),
      Buffer.alloc(999, 0xff),
      Buffer.from('"\\'.repeat(500)),
      Buffer.from('\t\u0001'.repeat(500)),
    ]) {
      const { encoding, content } = encodeOutput(bytes);
      const size = encoding === 'utf8' ? escapedInJson(content) : content.length;
      expect(size).toBeLessThanOrEqual(MAX_ESCAPE_RATIO * bytes.length);
    }
  });
});

describe('encodeExact', () => {
  it('is utf8 only for valid UTF-8 that escapes cheaply; the bytes always round-trip', () => {
    for (const bytes of [Buffer.from('text\n'), Buffer.from([0x61, 0xff]), Buffer.alloc(100, 2), Buffer.from('"'.repeat(10))]) {
      const { encoding, content } = encodeExact(bytes);
      expect(Buffer.from(content, encoding)).toEqual(bytes);
    }
    expect(encodeExact(Buffer.from([0x61, 0xff])).encoding).toBe('base64');
    expect(encodeExact(Buffer.alloc(100, 2)).encoding).toBe('base64');
  });
});
