/**
 * Reads a JSON request body without letting one client stall or exhaust the server: no compressed bodies,
 * the size limit checked before and while reading, every body held against one shared byte budget until its
 * response is over, and nesting and value counts bounded as the bytes arrive, before JSON.parse runs.
 */
import type { Context } from 'koa';
import {
  BusyError,
  ClientGoneError,
  InvalidRequestError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  type RunboxError,
} from '../errors';
import { JsonShapeScanner } from './json-shape';

/** Bytes shared by every request body being received or served; a claim grows as its body arrives. */
export class ByteBudget {
  private used = 0;

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  claim(): BudgetClaim {
    let held = 0;
    let released = false;
    return {
      cover: (bytes) => {
        if (released) return false;
        const extra = bytes - held;
        if (extra <= 0) return true;
        if (this.used + extra > this.capacity) return false;
        this.used += extra;
        held = bytes;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.used -= held;
      },
    };
  }
}

export interface BudgetClaim {
  /** Grows the claim to `bytes` in total; false when the budget cannot cover that. */
  cover(bytes: number): boolean;
  /** Gives the whole claim back; idempotent. */
  release(): void;
}

export interface JsonBodyLimits {
  maxBytes: number;
  maxDepth: number;
  maxItems: number;
}

const tooLarge = () => new PayloadTooLargeError('the request body exceeds RUNBOX_MAX_BODY_BYTES');
const noRoom = () => new BusyError('the server is holding as many request bodies as RUNBOX_MAX_BODIES_BYTES allows; retry shortly', 1);

export class JsonBodyReader {
  constructor(
    private readonly limits: JsonBodyLimits,
    private readonly budget: ByteBudget,
  ) {}

  /** The parsed body; throws a 4xx/503 RunboxError naming what is wrong, having stopped reading. */
  async read(ctx: Context): Promise<unknown> {
    const type = ctx.is('application/json');
    if (type === null) throw new InvalidRequestError('the request has no body: send a JSON object');
    if (type === false) throw new UnsupportedMediaTypeError('send the body as application/json');
    const encoding = (ctx.get('content-encoding') || 'identity').trim().toLowerCase();
    if (encoding !== 'identity') {
      // Inflating is where a 20 KB request becomes 20 MB of work; bodies are small enough to send as they are.
      throw new UnsupportedMediaTypeError(`Content-Encoding ${encoding} is not accepted: send the body uncompressed`);
    }
    const declared = ctx.request.length;
    if (declared !== undefined && declared > this.limits.maxBytes) throw tooLarge();

    const claim = this.budget.claim();
    // Held until the response is over: a parsed body waiting in the queue or running is still in memory.
    if (ctx.res.closed) claim.release();
    else ctx.res.once('close', () => claim.release());
    if (!claim.cover(declared ?? 0)) throw noRoom();

    const text = await this.receive(ctx, claim);
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      throw new InvalidRequestError(`the body is not valid JSON: ${(err as Error).message}`);
    }
  }

  private receive(ctx: Context, claim: BudgetClaim): Promise<string> {
    const { req } = ctx;
    const scanner = new JsonShapeScanner(this.limits.maxDepth, this.limits.maxItems);
    const chunks: Buffer[] = [];
    let size = 0;
    return new Promise<string>((resolve, reject) => {
      const done = () => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('error', onGone);
        req.off('close', onClose);
      };
      const fail = (err: RunboxError) => {
        done();
        req.pause();
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > this.limits.maxBytes) return fail(tooLarge());
        if (!claim.cover(size)) return fail(noRoom());
        const problem = scanner.write(chunk);
        if (problem === 'depth') return fail(new InvalidRequestError(`the body nests JSON deeper than ${scanner.maxDepth} levels`));
        if (problem === 'items') {
          return fail(new PayloadTooLargeError(`the body holds more than ${scanner.maxItems} JSON values; no valid request has that many`));
        }
        chunks.push(chunk);
      };
      const onEnd = () => {
        done();
        resolve(Buffer.concat(chunks, size).toString('utf8'));
      };
      const onGone = () => fail(new ClientGoneError('the client went away while sending its body'));
      const onClose = () => {
        if (!req.complete) onGone();
      };
      req.on('data', onData);
      req.on('end', onEnd);
      req.on('error', onGone);
      req.on('close', onClose);
    });
  }
}
