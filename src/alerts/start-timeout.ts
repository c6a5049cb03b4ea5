import type { Logger } from 'pino';
import type { AlertOutbox, InitialState } from './types';

export interface StartTimeoutOptions {
  outbox: AlertOutbox;
  timeoutMs: number;
  initialState: InitialState;
  logger: Logger;
  clock?: () => number;
}

/**
 * Finds sessions still `requested` long after their call was answered. Twilio sends nothing when the
 * statusCallback URL is wrong or the connector never answers; silence is the only symptom.
 */
export function createStartTimeoutScanner({ outbox, timeoutMs, initialState, logger, clock = Date.now }: StartTimeoutOptions) {
  return {
    async runOnce(): Promise<number> {
      const raised = await outbox.raiseStartTimeouts(clock(), timeoutMs, initialState);
      if (raised > 0) logger.warn({ raised, timeoutSeconds: timeoutMs / 1000 }, 'SIPREC sessions did not start in time: start-timeout alerts raised');
      return raised;
    },
  };
}
