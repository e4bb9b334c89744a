// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** POST /v1/runs on a running server over real HTTP. */
export async function postRun(
  url: string,
  body: object,
  init: RequestInit = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(`${url}/v1/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...init,
  });
  return { status: res.status, body: await res.json(), headers: res.headers };
}
