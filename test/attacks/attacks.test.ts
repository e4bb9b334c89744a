/** The attack suite (./suite.ts) on the default warm pool: plain members, as runs that import nothing get. */
import { attackSuite } from './suite';

attackSuite({});
