import type { AgentbusError } from '../../bus-schemas/index.js';
import { StoppedBeforeAnswer } from './stopped-before-answer.js';

/**
 * Whether a gateway-side retry may ask the same agent again after `error`: a retryable one, but not a stopping
 * gateway's 503, which its client retries (elsewhere) and which would cut a second attempt here, nor an
 * upstream's rate limit, which every worker of the agent shares until its Retry-After has passed.
 */
export const retriedHere = (error: AgentbusError): boolean =>
  error.retryable && !(error instanceof StoppedBeforeAnswer) && error.code !== 'backend_rate_limited';
