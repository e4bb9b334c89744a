/**
 * A cheap incremental scan of JSON text as it arrives, bounding what JSON.parse will later be asked to build:
 * nesting depth and the number of values. It does not validate JSON (JSON.parse does); it only makes sure a
 * hostile body cannot cost more than its bytes. Strings are skipped with native indexOf, so the scan stays
 * linear and fast even on long strings full of escapes.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;

export type ShapeProblem = 'depth' | 'items';

export class JsonShapeScanner {
  private depth = 0;
  /** Containers opened plus commas seen: an upper bound on the values JSON.parse would create, less one. */
  private items = 0;
  private inString = false;
  private escaped = false;

  constructor(
    readonly maxDepth: number,
    readonly maxItems: number,
  ) {}

  /** Scans the next chunk; returns the first bound it breaks, if any (the scan should then stop). */
  write(chunk: Buffer): ShapeProblem | undefined {
    const end = chunk.length;
    let i = 0;
    // Next quote and backslash at or after i within this chunk (end when none), found once each.
    let nextQuote = -1;
    let nextBackslash = -1;
    const find = (byte: number, from: number) => {
      const at = chunk.indexOf(byte, from);
      return at < 0 ? end : at;
    };
    while (i < end) {
      if (this.escaped) {
        this.escaped = false;
        i++;
        continue;
      }
      if (this.inString) {
        if (nextQuote < i) nextQuote = find(QUOTE, i);
        if (nextBackslash < i) nextBackslash = find(BACKSLASH, i);
        if (nextBackslash < nextQuote) {
          this.escaped = true;
          i = nextBackslash + 1;
        } else if (nextQuote < end) {
          this.inString = false;
          i = nextQuote + 1;
        } else {
          i = end;
        }
        continue;
      }
      switch (chunk[i++]) {
        case QUOTE:
          this.inString = true;
          break;
        case OPEN_ARRAY:
        case OPEN_OBJECT:
          if (++this.depth > this.maxDepth) return 'depth';
          if (++this.items > this.maxItems) return 'items';
          break;
        case CLOSE_ARRAY:
        case CLOSE_OBJECT:
          this.depth--;
          break;
        case COMMA:
          if (++this.items > this.maxItems) return 'items';
          break;
      }
    }
    return undefined;
  }
}
