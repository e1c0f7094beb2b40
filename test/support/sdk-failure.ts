import { isBookingError, type BookingError } from "../../client/index.js";

/** The BookingError a call fails with; throws when it succeeds or fails otherwise. */
export async function sdkFailure(promise: Promise<unknown>): Promise<BookingError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!isBookingError(error)) throw new Error(`expected a BookingError, got ${String(error)}`);
  return error;
}
