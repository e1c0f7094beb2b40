/** How long request ids are remembered unless configured: 24 hours. */
export const DEFAULT_REQUEST_ID_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The longest request id accepted; longer ones are refused by the core. */
export const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The key an idempotency record is found under: who asked, and the key they
 * chose. Two principals may use the same request id without meeting.
 */
export function requestKey(principal: string, requestId: string): string {
  return `${principal}\u0000${requestId}`;
}
