import { incompleteUtf8Tail } from '../../src/http/event-stream';

describe('incompleteUtf8Tail', () => {
  const bytes = (text: string) => Buffer.from(text, 'utf8');

  it('is 0 when the bytes end on a whole character', () => {
    for (const text of ['', 'abc', 'naïve', '日本', '🎉', 'x\n']) expect(incompleteUtf8Tail(bytes(text))).toBe(0);
  });

  it('counts the bytes of a character cut off at the end', () => {
    const emoji = bytes('a🎉'); // 1 + 4 bytes
    expect(incompleteUtf8Tail(emoji.subarray(0, 2))).toBe(1);
    expect(incompleteUtf8Tail(emoji.subarray(0, 3))).toBe(2);
    expect(incompleteUtf8Tail(emoji.subarray(0, 4))).toBe(3);
    expect(incompleteUtf8Tail(bytes('日').subarray(0, 2))).toBe(2);
    expect(incompleteUtf8Tail(bytes('é').subarray(0, 1))).toBe(1);
  });

  it('holds nothing back for invalid bytes that no later byte can complete', () => {
    expect(incompleteUtf8Tail(Buffer.from([0x61, 0x80, 0x80, 0x80]))).toBe(0);
    expect(incompleteUtf8Tail(Buffer.from([0xff]))).toBe(0);
  });
});
