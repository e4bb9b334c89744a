/** Waiting for a condition instead of for a length of time. */

/** Polls (bounded) until `check` holds; returns whether it did. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 15_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return check();
}

/** Like eventually(), but throws naming `what` when the condition never held. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 15_000, everyMs = 5): Promise<void> {
  if (!(await eventually(check, timeoutMs, everyMs))) throw new Error(`never happened within ${timeoutMs} ms: ${what}`);
}
