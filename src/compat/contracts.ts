/** The runner contracts served next to /v1/runs (the five runners runbox grew from, numbered 000 to 004: README, "Replacing an existing runner"), in one list. */
import type { Limits } from '../config';
import { codeRunner } from './code-runner';
import type { CompatContract } from './contract';
import { executionAgent } from './execution-agent';
import { restrictedExecutor } from './restricted-executor';
import { subprocessRunner } from './subprocess-runner';

export function compatContracts(limits: Limits): CompatContract[] {
  return [subprocessRunner(limits), codeRunner(limits), executionAgent(limits), restrictedExecutor(limits)];
}
