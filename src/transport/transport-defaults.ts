/**
 * The gRPC layer's defaults, stated once: `createBookingServer` fills
 * omitted options from them, and the serve command's SERVER_DEFAULTS reads
 * them from here.
 */
export const TRANSPORT_DEFAULTS = {
  /** Calls served at once; more are refused (in_flight). Watch streams do not count. */
  maxInFlight: 1024,
  /** The largest request message accepted, in bytes. */
  maxReceiveBytes: 65536,
  /** HTTP/2 streams per connection. */
  maxConcurrentStreams: 100,
  /** A connection that has not finished its TLS handshake this long after it opened is closed (Node's own default: 120 s). */
  tlsHandshakeTimeoutMs: 10_000,
  /**
   * Connections one principal may hold open at once; more are closed after
   * the handshake (PrincipalConnectionLimit). 0 = no limit. A fleet of
   * clients sharing one certificate counts as one principal.
   */
  maxConnectionsPerPrincipal: 256,
  /** A stream whose request has not fully arrived this long after it opened is cancelled (StalledRequestReaper). 0 = never. */
  requestArrivalTimeoutMs: 10_000,
  /**
   * Load shedding for `booking serve`. A server built by
   * `createBookingServer` without this option does not shed (0), so that
   * servers inside test processes are not disturbed by their host's work.
   */
  maxEventLoopLagMs: 100,
  /**
   * How long the event loop's lag must stay above maxEventLoopLagMs before
   * calls are shed: 1 s. A burst that the server works off within a second
   * is served, not refused (admission/event-loop-lag-step.ts).
   */
  overloadIntervalMs: 1000,
  /** Per-principal calls per second; 0 = no limit. */
  writeRatePerSecond: 0,
  readRatePerSecond: 0,
  /** WatchAvailability streams one principal may have open at once (TOO_MANY_STREAMS past it). */
  maxWatchStreamsPerPrincipal: 16,
  /** WatchAvailability streams the server holds open at once, over all principals. */
  maxWatchStreams: 10_000,
  /**
   * The server pings each connection after this long without a frame from
   * the peer, so a watcher whose client vanished (no FIN, no RST) is noticed
   * and its stream closed: 30 s.
   */
  keepaliveTimeMs: 30_000,
  /** A ping unanswered for this long closes the connection and its calls: 10 s. */
  keepaliveTimeoutMs: 10_000,
  /** Encoded ShowAvailable answers kept, one per (show, form): the most recently used win. */
  listingCacheEntries: 64,
  /**
   * Each HTTP/2 session's open-streams map is copied this often (ms), faster
   * than two young collections under load, so that it never reaches the old
   * generation (StreamMapRenewal).
   */
  streamMapRenewalMs: 50,
} as const;

/** The burst of a rate limit given without one: the rate rounded up, at least 1. */
export function defaultBurst(ratePerSecond: number): number {
  return Math.max(1, Math.ceil(ratePerSecond));
}
