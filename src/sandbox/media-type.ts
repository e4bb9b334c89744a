/**
 * An artifact's media type, from its bytes and its name. The bytes decide what a file is when they carry
 * a signature (a PNG is a PNG whatever it is called, and a file called chart.png that is not one is never
 * labelled an image, so a client does not try to render it); text formats have no signature, so for
 * text the name says which (CSV, JSON, Python...).
 */
import { filetypemime } from 'magic-bytes.js';
import { lookup } from 'mime-types';

/** Enough for every signature magic-bytes knows, and for a fair guess whether a file is text. */
const SNIFF_BYTES = 64 * 1024;

const textual = (type: string) => type.startsWith('text/') || /[+/](json|xml|javascript|yaml|x-sh|x-python)$/.test(type);

/** Valid UTF-8 without NULs, judged on the file's start (an incomplete character at the cut is fine). */
function looksLikeText(head: Buffer): boolean {
  if (head.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return true;
  } catch {
    return false;
  }
}

const isSvg = (head: Buffer) => /<svg[\s>]/i.test(head.toString('utf8'));

export function mediaType(path: string, data: Buffer): string {
  const head = data.subarray(0, SNIFF_BYTES);
  const named = lookup(path) || undefined;
  const sniffed = filetypemime(head);
  // The name picks among what the bytes allow (a zip signature is also xlsx, docx, jar...).
  if (named !== undefined && sniffed.includes(named)) return named;
  if (looksLikeText(head)) {
    // An SVG is an image a client will render: only markup that is one gets the name.
    if (named === 'image/svg+xml' && !isSvg(head)) return 'text/plain';
    if (named !== undefined && textual(named)) return named;
    return sniffed.find(textual) ?? 'text/plain';
  }
  // A textual guess for bytes that are not UTF-8 rests on two bytes (a UTF-16 byte order mark): not enough.
  const binary = sniffed.find((type) => !textual(type));
  if (binary !== undefined) return binary;
  // Binary the bytes cannot place: the name is believed unless it claims a kind we can check and did not.
  return named !== undefined && !textual(named) && !named.startsWith('image/') ? named : 'application/octet-stream';
}
