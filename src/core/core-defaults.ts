/**
 * The booking rules' limits when nothing else is configured. Stated here
 * once; the server's configuration and help text read them from here.
 */
export const CORE_DEFAULTS = {
  /** The most seats one request may name. */
  maxSeatsPerRequest: 64,
  /** The most commands one store transaction carries. */
  maxBatchSize: 256,
  /** The most changes waiting for the store before new ones are refused. */
  maxQueuedChanges: 4096,
  /** The most seats a show created at run time may have. */
  maxSeatsPerShow: 1_000_000,
  /** How long a hold lasts when the request names no TTL: 10 minutes. */
  defaultHoldTtlMs: 10 * 60 * 1000,
  /** The longest TTL a hold or an extension may ask for: 15 minutes. */
  maxHoldTtlMs: 15 * 60 * 1000,
  /** No extension moves a hold's expiry past its creation plus this: 2 hours. */
  maxHoldLifetimeMs: 2 * 60 * 60 * 1000,
  /** Live holds one principal may have at once. */
  maxHoldsPerPrincipal: 20,
} as const;

/** The shortest TTL a hold may ask for: less is surely a mistake. */
export const MIN_HOLD_TTL_MS = 1000;

/** The most characters of a show's display name. */
export const MAX_DISPLAY_NAME_LENGTH = 200;

/** What a show id created at run time looks like: a short slug. */
export const SHOW_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * What any show id looks like: the ids `--shows` accepts (letters, digits,
 * `_ . -`, up to 64), which include every slug {@link SHOW_ID_PATTERN}
 * allows. A call naming an id outside it names no show that can exist.
 */
export const ANY_SHOW_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
