/**
 * A compatibility route: another runner's HTTP contract, served as a thin translation onto the one run path.
 * It turns its body into a POST /v1/runs request (so the same parser, limits, auth, admission, audit and
 * metrics apply), and the run's response into its own shape; refusals and faults get its own error shape.
 */
import { InvalidRequestError, type RunboxError } from '../errors';
import type { DocumentedContract } from '../api/openapi';
import type { RunRequestBody } from '../api/run-request';
import type { RunResponse } from '../api/run-response';

export interface Translation<C> {
  request: RunRequestBody;
  /** What the answer needs to know about the request (its timeout in seconds, say). */
  context: C;
}

/** Its path, OpenAPI tag, path item and schemas (DocumentedContract), and how it translates. */
export interface CompatContract<C = unknown> extends DocumentedContract {
  /** `maxTimeoutMs`: the most this request may run, the server's maximum or its key's, whichever is lower. */
  translate(body: unknown, maxTimeoutMs: number): Translation<C>;
  answer(response: RunResponse, context: C): unknown;
  /** A refusal or fault, in the contract's own terms (a status and a body). */
  refuse(err: RunboxError): { status: number; body: unknown };
}

/** A JSON body given as text, passed on as it is (a number's form, 3.0 or 3, survives). */
export class JsonText {
  constructor(readonly text: string) {}
}

/** The body could not be read as JSON (or not at all): contracts answer it as their originals would. */
export class MalformedBodyError extends InvalidRequestError {
  constructor(readonly original: RunboxError) {
    super(original.message);
  }
}

/** A stream of the run's output as text: bytes that are not UTF-8 become U+FFFD, as a text-mode subprocess would. */
export function outputText(content: string, encoding: 'utf8' | 'base64'): string {
  return encoding === 'base64' ? Buffer.from(content, 'base64').toString('utf8') : content;
}

/** The first `max` code points of `text` (Python's len() counts code points, not UTF-16 units), and whether it was longer. */
export function firstCodePoints(text: string, max: number): { text: string; cut: boolean } {
  if (text.length <= max) return { text, cut: false };
  let units = 0;
  for (let points = 0; points < max && units < text.length; points++) units += text.codePointAt(units)! > 0xffff ? 2 : 1;
  return units >= text.length ? { text, cut: false } : { text: text.slice(0, units), cut: true };
}

interface JsonBody {
  schema: object;
  example: unknown;
}

/** A contract's OpenAPI path item: one POST taking and answering JSON, and its error responses. */
export function jsonOperation(o: {
  operationId: string;
  summary: string;
  description: string;
  request: JsonBody;
  response: JsonBody & { description: string };
  errors: Record<string, unknown>;
}): Record<string, unknown> {
  const json = ({ schema, example }: JsonBody) => ({ 'application/json': { schema, example } });
  return {
    post: {
      operationId: o.operationId,
      summary: o.summary,
      description: o.description,
      requestBody: { required: true, content: json(o.request) },
      responses: { '200': { description: o.response.description, content: json(o.response) }, ...o.errors },
    },
  };
}

/** Error responses for an operation: each status's description, all with the body schema `schema` (a component's name) unless one names its own. */
export function errorResponses(
  schema: string,
  statuses: Record<string, string | [description: string, schema: string]>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(statuses).map(([status, given]) => {
      const [description, name] = typeof given === 'string' ? [given, schema] : given;
      return [status, { description, content: { 'application/json': { schema: { $ref: `#/components/schemas/${name}` } } } }];
    }),
  );
}

/**
 * What a contract's timeout means, said in each one's description: the originals ran the code as a subprocess
 * at once, so their timeout was the program's own running time. So is it here: waiting for a run slot is not
 * in it, and is bounded apart.
 */
export const TIMEOUT_MEANING =
  "The timeout is the program's own running time, from its start, as the original's subprocess timeout was; " +
  'waiting for a run slot is not in it (at most RUNBOX_QUEUE_TIMEOUT_MS, then 503).';

/**
 * A contract's timeout in milliseconds, under the one policy of every door (as `timeout_ms` on /v1/runs): a
 * timeout asked for beyond `maxMs` (the server's maximum, or the key's lower one) is refused, naming the
 * limit; the contract's own default is fitted under it. Seconds, as the originals take them.
 */
export function timeoutWithin(field: string, askedSeconds: number | null | undefined, defaultSeconds: number, maxMs: number): number {
  if (askedSeconds === undefined || askedSeconds === null) return Math.min(Math.round(defaultSeconds * 1000), maxMs);
  const asked = Math.round(askedSeconds * 1000);
  if (asked > maxMs) {
    throw new InvalidRequestError(
      `\`${field}\` ${askedSeconds} is over the limit of ${maxMs / 1000} s (the server's maximum, or this key's)`,
    );
  }
  return asked;
}
