/** Labels on every container runbox creates: what the reaper and operators use to find and judge them. */
export const LABEL_RUN_ID = 'runbox.run-id';
export const LABEL_INSTANCE = 'runbox.instance';
/** Epoch milliseconds after which the container has no business existing. */
export const LABEL_DEADLINE = 'runbox.deadline';

export function runLabels(runId: string, instanceId: string, deadline: number): Record<string, string> {
  return { [LABEL_RUN_ID]: runId, [LABEL_INSTANCE]: instanceId, [LABEL_DEADLINE]: String(deadline) };
}
