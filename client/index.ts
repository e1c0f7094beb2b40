/**
 * The seat-booking SDK: `import { createBookingClient, BookingError } from "@seat-booking/client"`.
 *
 * Only the client lives here; the server is started with `booking serve`.
 * The generated message types are re-exported so callers can name them;
 * their schemas are under "@seat-booking/client/messages".
 */
export {
  createBookingClient,
  DEFAULT_ADDRESS,
  DEFAULT_DEADLINE_MS,
  REQUEST_ID_HEADER,
  type BookingCallOptions,
  type BookingClient,
  type BookingClientOptions,
} from "./booking-client.js";
export {
  BookingError,
  decodeStatusDetails,
  isBookingError,
  statusName,
  type BookingErrorFacts,
  type FieldViolation,
} from "./booking-error.js";
export { BOOKING_ERROR_REASONS, type BookingErrorReason } from "./booking-error-reasons.js";
export { checkServerAddress } from "./server-address.js";
export { backoffMs, DEFAULT_RETRY_POLICY, retryDelayMs, type RetryEvent, type RetryPolicy } from "./call-retry.js";
export {
  isResumable,
  resumeDelayMs,
  type AvailabilityWatch,
  type WatchAvailabilityInit,
  type WatchOptions,
  type WatchReconnectedEvent,
  type WatchRetryEvent,
  type WatchUpdate,
} from "./watch-availability.js";
export { isSeatMapError, SeatMap, SeatMapError, type SeatMapErrorReason, type SeatStatus } from "./seat-map.js";
export {
  changeFromWire,
  runsOf,
  snapshotFromWire,
  UnknownWatchValueError,
  type SeatRun,
  type ShowStateName,
  type WatchChange,
  type WatchChangeKind,
  type WatchSnapshot,
} from "./watch-updates.js";
export {
  ClientCredentialsError,
  loadClientCredentials,
  readPem,
  type ClientTlsMaterial,
  type PemSource,
} from "./client-credentials.js";
export { formatSeatRanges, parseSeatList, SeatListError, isSeatListError } from "./seat-list.js";
export { newRequestId } from "./request-ids.js";
export { type DurationInit, type ExtendHoldInit, type HoldSeatsInit, type HoldTtl } from "./hold-requests.js";
export type {
  BookSeatsRequest,
  BookSeatsResponse,
  CancelSeatsRequest,
  CancelSeatsResponse,
  CloseShowRequest,
  CloseShowResponse,
  ConfirmHoldRequest,
  ConfirmHoldResponse,
  CreateShowRequest,
  CreateShowResponse,
  ExtendHoldRequest,
  ExtendHoldResponse,
  GetHoldRequest,
  GetHoldResponse,
  GetShowRequest,
  GetShowResponse,
  Hold,
  HoldSeatsRequest,
  HoldSeatsResponse,
  ListShowsRequest,
  ListShowsResponse,
  ReleaseHoldRequest,
  ReleaseHoldResponse,
  ResizeShowRequest,
  ResizeShowResponse,
  Show,
  ShowAvailableRequest,
  ShowAvailableResponse,
  AvailabilityChanges,
  AvailabilitySnapshot,
  SeatChange,
  SeatRange,
  WatchAvailabilityRequest,
  WatchAvailabilityResponse,
} from "../gen/booking/v1/booking_pb.js";
/**
 * The states of a Show and a Hold, as values to compare with (`hold.state === HoldState.ACTIVE`);
 * AvailabilityForm chooses how free seats are sent (ShowAvailable's and WatchAvailability's `form`).
 */
export { AvailabilityForm, HoldState, SeatChangeKind, ShowState } from "../gen/booking/v1/booking_pb.js";
