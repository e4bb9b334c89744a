/** Who a request runs as: a stored key's id and limits, the bootstrap key, or nobody (keyless loopback mode). */
import type { KeyLimits } from '../store/store';

export interface Principal {
  keyId: string | null;
  limits: KeyLimits;
}
