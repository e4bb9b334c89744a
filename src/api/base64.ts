/**
 * Base64 input, read without a regular expression: the old pattern's backtracking ran out of stack and threw
 * RangeError (a 500) on a 4.5 M-character file, well under the 5 MiB limit, and held the event loop about
 * 0.4 s on one just below that. Here the decoded size comes from the length and padding alone, so a caller
 * can refuse an oversized file before reading a character of it, and the alphabet is checked in one pass.
 *
 * Accepted: RFC 4648's standard alphabet (A–Z, a–z, 0–9, +, /), padded to a multiple of 4 with at most two
 * `=`, nothing else (no whitespace, no URL-safe alphabet); the empty string is valid.
 */

/**
 * The number of bytes `text` decodes to, from its length and trailing `=` alone (constant time), or
 * undefined when no valid base64 has that length. Exact for valid base64; whether `text` is valid is
 * `isBase64`'s question.
 */
export function base64DecodedLength(text: string): number | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

const EQUALS = 0x3d;

/** Whether `code` is a char code of the standard base64 alphabet. */
function inAlphabet(code: number): boolean {
  return (
    (code >= 0x41 && code <= 0x5a) || // A-Z
    (code >= 0x61 && code <= 0x7a) || // a-z
    (code >= 0x30 && code <= 0x39) || // 0-9
    code === 0x2b || // +
    code === 0x2f // /
  );
}

/** Whether `text` is valid padded base64: one pass over its char codes, linear in its length. */
export function isBase64(text: string): boolean {
  if (text.length % 4 !== 0) return false;
  let end = text.length;
  // At most two `=`, and only at the end: the loop below refuses any `=` before them.
  if (end > 0 && text.charCodeAt(end - 1) === EQUALS) end--;
  if (end > 0 && text.charCodeAt(end - 1) === EQUALS) end--;
  for (let i = 0; i < end; i++) if (!inAlphabet(text.charCodeAt(i))) return false;
  return true;
}
