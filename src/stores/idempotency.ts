/** How long request ids are remembered unless configured: 24 hours. */
export const DEFAULT_REQUEST_ID_RETENTION_MS = 24 * 60 * 60 * 1000;

/** The longest request id accepted; longer ones are refused by the core. */
export const MAX_REQUEST_ID_LENGTH = 128;
