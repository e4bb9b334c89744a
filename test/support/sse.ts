import { createParser } from 'eventsource-parser';
import type { Json } from './http';

export interface ReceivedEvent {
  event: string;
  data: Json;
  /** ms since the request was sent */
  at: number;
  /** How many comments (keep-alives) came before it on the stream: what went out between two events. */
  commentsBefore: number;
}

/**
 * POST /v1/runs asking for Server-Sent Events; collects every event with its arrival time, and the comments.
 * `onEvent` may abort the request (through `init.signal`) to play a client that leaves.
 */
export async function postStream(
  url: string,
  body: object,
  { onEvent, ...init }: RequestInit & { onEvent?: (event: ReceivedEvent) => void } = {},
): Promise<{ status: number; contentType: string | null; events: ReceivedEvent[]; comments: string[]; json?: Json }> {
  const sent = performance.now();
  const res = await fetch(`${url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
    ...init,
  });
  const contentType = res.headers.get('content-type');
  if (!contentType?.startsWith('text/event-stream'))
    return { status: res.status, contentType, events: [], comments: [], json: await res.json() };
  const events: ReceivedEvent[] = [];
  const comments: string[] = [];
  const parser = createParser({
    onEvent: (message) => {
      const event = {
        event: message.event ?? 'message',
        data: JSON.parse(message.data) as Json,
        at: performance.now() - sent,
        commentsBefore: comments.length,
      };
      events.push(event);
      onEvent?.(event);
    },
    onComment: (comment) => comments.push(comment),
  });
  const decoder = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  } catch (err) {
    if (!init.signal?.aborted) throw err;
  }
  return { status: res.status, contentType, events, comments };
}

/** A stream's text as the events carried it, in order. */
export function streamed(events: ReceivedEvent[], stream: 'stdout' | 'stderr'): string {
  return events
    .filter((e) => e.event === stream)
    .map((e) => (e.data.encoding === 'base64' ? Buffer.from(e.data.content, 'base64').toString('latin1') : e.data.content))
    .join('');
}
