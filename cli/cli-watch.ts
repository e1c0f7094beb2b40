import { BookingError, DEFAULT_RETRY_POLICY, type BookingClient } from "../client/index.js";
import { AvailabilityForm } from "../client/index.js";
import { EXIT_OK, exitCodeOf, formatFailure } from "./cli-output.js";
import { reconnectedText, reconnectingText, watchUpdateText } from "./watch-text.js";

/** Where `booking watch` writes, and what tells it to stop. */
export interface WatchIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  /** Aborted on Ctrl-C (the entry point's SIGINT): the watch ends and the command exits 0. */
  readonly interrupt: AbortSignal | undefined;
}

/**
 * `booking watch`: prints the show's snapshot, then a line per change as it
 * commits, until interrupted (exit 0) or a failure the SDK does not resume
 * from (exit 1 for a refusal such as NOT_FOUND, as for the other commands).
 * A dropped stream is resumed by the SDK; the CLI says so on stderr. Until
 * the first snapshot arrives it gives up after as many attempts as a single
 * call would (exit 2: no answer from the server), so a wrong address fails
 * fast instead of retrying forever.
 */
export async function runWatch(
  client: BookingClient,
  request: { readonly showId: string; readonly json: boolean; readonly address: string; readonly deadlineMs: number },
  io: WatchIo,
): Promise<number> {
  const { json } = request;
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  io.interrupt?.addEventListener("abort", onInterrupt, { once: true });
  let started = false;
  let gaveUp: BookingError | undefined;
  const watch = client.watchAvailability(
    // Ranges only: a snapshot of a large show stays small, and the SDK's map reads either form.
    { showId: request.showId, form: AvailabilityForm.RANGES },
    {
      signal: stop.signal,
      retry: {
        onRetry: (event) => {
          if (!started && event.attempt >= DEFAULT_RETRY_POLICY.maxAttempts) {
            gaveUp = BookingError.from(event.error, { attempts: event.attempt });
            stop.abort();
            return;
          }
          if (started && event.attempt === 1) io.stderr.write(reconnectingText(event.error, event.fromVersion, event.address, json));
        },
      },
      onReconnected: (event) => {
        if (started) io.stderr.write(reconnectedText(event.address, event.fromVersion, json));
      },
    },
  );
  try {
    for await (const update of watch) {
      started = true;
      io.stdout.write(watchUpdateText(update, json));
    }
    return EXIT_OK;
  } catch (error) {
    if (io.interrupt?.aborted === true) return EXIT_OK;
    const failure = gaveUp ?? BookingError.from(error);
    io.stderr.write(formatFailure("watch", failure, request, json));
    return exitCodeOf(failure);
  } finally {
    io.interrupt?.removeEventListener("abort", onInterrupt);
  }
}
