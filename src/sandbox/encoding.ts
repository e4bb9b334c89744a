/**
 * How bytes from the sandbox travel in a JSON response. Text stays text, but JSON escaping can multiply
 * hostile bytes sixfold (`\x01` becomes `\u0001`), so when the escaped text would be more than twice the
 * bytes, the bytes go as base64 instead (4/3). A response is thus at most about twice what the caps allow.
 */

export type Encoding = 'utf8' | 'base64';

export interface Encoded {
  encoding: Encoding;
  content: string;
}

/** Escaped text may cost at most this many bytes per byte before base64 is used instead. */
export const MAX_ESCAPE_RATIO = 2;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes that valid UTF-8 `bytes` take inside a JSON string, as JSON.stringify writes it (quotes excluded). */
export function jsonEscapedBytes(bytes: Uint8Array): number {
  let size = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b >= 0x20) size += b === 0x22 || b === 0x5c ? 2 : 1;
    else size += b === 0x08 || b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d ? 2 : 6;
  }
  return size;
}

const base64 = (bytes: Buffer): Encoded => ({ encoding: 'base64', content: bytes.toString('base64') });

const cheapEnough = (utf8: Uint8Array, rawLength: number) => jsonEscapedBytes(utf8) <= MAX_ESCAPE_RATIO * Math.max(rawLength, 1);

/** Files: exact bytes. utf8 when they are valid UTF-8 and cheap enough to escape, else base64. */
export function encodeExact(bytes: Buffer): Encoded {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return base64(bytes);
  }
  return cheapEnough(bytes, bytes.length) ? { encoding: 'utf8', content: text } : base64(bytes);
}

/**
 * Program output: read as UTF-8 with invalid sequences as U+FFFD (a character cut at the cap stays readable),
 * unless that text would be more than twice the bytes in JSON; then the exact bytes, as base64.
 */
export function encodeOutput(bytes: Buffer): Encoded {
  const text = bytes.toString('utf8');
  return cheapEnough(Buffer.from(text, 'utf8'), bytes.length) ? { encoding: 'utf8', content: text } : base64(bytes);
}
