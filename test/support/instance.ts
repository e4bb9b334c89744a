/**
 * Instance ids for the servers tests start. Another test run may share the engine (a CI run and a
 * developer's, on one machine), so the checks of what is left count only the containers of this process's
 * instances: those whose id carries RUN_TAG.
 */
import { randomBytes } from 'node:crypto';

export const RUN_TAG = `t${process.pid}`;

/** A fresh instance id of this run, e.g. `fault-t1234-9f3a0c1d`. */
export const testInstanceId = (name = 'test'): string => `${name}-${RUN_TAG}-${randomBytes(4).toString('hex')}`;

/** Whether an instance id is one of this run's. */
export const isOurs = (instanceId: string | undefined): boolean => instanceId?.includes(`-${RUN_TAG}-`) === true;
