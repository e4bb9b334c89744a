/**
 * The attack suite (./suite.ts) on preloaded warm members: every run of the default memory size takes one,
 * so each hostile program runs in the interpreter that imported numpy, pandas and matplotlib beforehand.
 */
import { attackSuite } from './suite';

attackSuite({ RUNBOX_PRELOAD_POLICY: 'always' });
