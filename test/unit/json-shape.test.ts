import { JsonShapeScanner } from '../../src/http/json-shape';

/** Feeds `text` in chunks of `size` bytes; returns the first problem. */
function scan(text: string, { depth = 4, items = 10, size = 3 } = {}) {
  const scanner = new JsonShapeScanner(depth, items);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) {
    const problem = scanner.write(bytes.subarray(i, i + size));
    if (problem) return problem;
  }
  return undefined;
}

describe('JsonShapeScanner', () => {
  it.each([1, 2, 3, 7, 1000])('bounds nesting depth, whatever the chunk size (%i)', (size) => {
    expect(scan('[[[[1]]]]', { size })).toBeUndefined();
    expect(scan('[[[[[1]]]]]', { size })).toBe('depth');
    expect(scan('{"a":{"b":{"c":{"d":{}}}}}', { size })).toBe('depth');
  });

  it('bounds the number of values', () => {
    expect(scan('[1,2,3,4,5,6,7,8,9]')).toBeUndefined();
    expect(scan('[1,2,3,4,5,6,7,8,9,10,11,12]')).toBe('items');
    expect(scan('{"a":[],"b":[],"c":[],"d":[],"e":[],"f":[]}')).toBe('items');
  });

  it.each([1, 2, 5])('ignores brackets, commas and escaped quotes inside strings (chunks of %i)', (size) => {
    expect(scan(JSON.stringify({ code: '[[[[[[,,,,,,,,,,,,]]]]]] \\" "[[[[[' }), { size })).toBeUndefined();
    expect(scan(JSON.stringify(['\\', '[[[[[[[', '\\"[[[[[[']), { size })).toBeUndefined();
  });

  it('resumes a string and an escape across chunk boundaries', () => {
    const scanner = new JsonShapeScanner(2, 10);
    expect(scanner.write(Buffer.from('["ab\\'))).toBeUndefined();
    expect(scanner.write(Buffer.from('"[[[['))).toBeUndefined();
    expect(scanner.write(Buffer.from('"]'))).toBeUndefined();
    expect(scanner.write(Buffer.from('[[['))).toBe('depth');
  });

  it('scans a long string of escapes in one pass (no rescanning per escape)', () => {
    const scanner = new JsonShapeScanner(4, 10);
    const body = Buffer.from(JSON.stringify({ stdin: '\n'.repeat(2_000_000) }));
    expect(scanner.write(body)).toBeUndefined();
  });
});
