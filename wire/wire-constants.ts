/**
 * Facts of the wire protocol that the server and the SDK must agree on,
 * stated once. Neither side restates them.
 */

/**
 * The metadata key of a call's log-correlation id, both ways: the client may
 * send one, the server echoes it (or the one it made up) in the response
 * headers and logs the call under it. It is not the idempotency key (the
 * `request_id` field of a write request), although the SDK sends the same
 * value in both so that every attempt of one write is logged under one id.
 */
export const CORRELATION_ID_HEADER = "x-request-id";

/** The trailer that carries a serialized google.rpc.Status (the rich error model). */
export const STATUS_DETAILS_TRAILER = "grpc-status-details-bin";

/** The ErrorInfo domain of this service's own errors. */
export const ERROR_DOMAIN = "booking.v1";

/** The longest idempotency key (`request_id`) and correlation id accepted. */
export const MAX_ID_LENGTH = 128;

/**
 * What a correlation id may look like to travel as a header and be logged:
 * 1 to 128 printable ASCII characters, no spaces.
 */
export const PRINTABLE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** The address a server listens on, and a client dials, unless told otherwise. */
export const DEFAULT_ADDRESS = "127.0.0.1:50051";

/** Where a server writes its development PKI, and the CLI looks for certificates, unless told otherwise. */
export const DEFAULT_CERTS_DIR = "certs";

/** The admin principal of the development PKI (`booking certs`). */
export const DEV_ADMIN_PRINCIPAL = "spiffe://seat-booking.dev/admin";
