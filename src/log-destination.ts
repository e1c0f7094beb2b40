import { write, writeSync } from "node:fs";

/** How long to wait before retrying a write the descriptor refused with EAGAIN (a full non-blocking pipe). */
const RETRY_AFTER_MS = 10;

/**
 * Where the JSON log's lines go: a file descriptor (stdout), written
 * asynchronously in batches of at least `minBytes`, one write in flight,
 * and no line waits longer than `maxDelayMs` for its write to start.
 *
 * pino's own destination (sonic-boom 4) appends each line to a growing
 * string and asks that string's UTF-8 length on every line, which flattens
 * it: about 7 kB copied on the V8 heap per line at a line per call, the
 * largest allocation of a booking. Here lines wait in an array and are
 * joined once per write.
 *
 * A failed write (other than EAGAIN, which is retried) drops the pending
 * lines and the ones after it: a log that cannot be written must not stop
 * the service. The first such failure is reported once on stderr; EPIPE (the
 * reader went away) is not reported. Lines still pending when the process
 * exits are written synchronously from its `exit` event.
 */
export class LogDestination {
  readonly #fd: number;
  readonly #minBytes: number;
  readonly #maxDelayMs: number;
  /** Set while lines wait for the batch to fill: it writes them anyway when it fires. */
  #flushTimer: NodeJS.Timeout | undefined;
  #pending: string[] = [];
  /** UTF-16 length of the pending lines: the batching threshold only, never a byte count on the wire. */
  #pendingLength = 0;
  /** Bytes of the write in flight not yet accepted by the descriptor. */
  #writing: Buffer | undefined;
  #failed = false;
  #waiting: (() => void)[] = [];
  readonly #onExit = (): void => this.flushSync();

  constructor(fd: number, minBytes: number, maxDelayMs: number) {
    this.#fd = fd;
    this.#minBytes = minBytes;
    this.#maxDelayMs = maxDelayMs;
    process.on("exit", this.#onExit);
  }

  /** Queues one line (pino passes it with its newline). */
  write(line: string): boolean {
    if (this.#failed) return true;
    this.#pending.push(line);
    this.#pendingLength += line.length;
    if (this.#writing === undefined && this.#pendingLength >= this.#minBytes) this.#writePending();
    else this.#flushTimer ??= setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
    return true;
  }

  #flushLate(): void {
    this.#flushTimer = undefined;
    if (this.#writing === undefined) {
      if (this.#pending.length > 0) this.#writePending();
    } else if (this.#pending.length > 0) {
      // A write is still in flight: look again once more time has passed.
      this.#flushTimer = setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
    }
  }

  /** Writes what is pending; `done` runs once everything queued so far is written (or dropped). */
  flush(done?: (error?: Error) => void): void {
    if (this.#writing === undefined && this.#pending.length > 0) this.#writePending();
    if (done === undefined) return;
    if (this.#writing === undefined) process.nextTick(done);
    else this.#waiting.push(() => done());
  }

  /** Writes everything pending now, blocking: for the process's last moments. */
  flushSync(): void {
    const rest = this.#writing === undefined ? [] : [this.#writing];
    if (this.#pending.length > 0) rest.push(Buffer.from(this.#takePending(), "utf8"));
    this.#writing = undefined;
    for (const chunk of rest) {
      let left = chunk;
      while (left.length > 0 && !this.#failed) {
        try {
          left = left.subarray(writeSync(this.#fd, left));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EAGAIN") this.#fail(error as NodeJS.ErrnoException);
        }
      }
    }
  }

  /** Stops listening for the process's exit (tests that make many destinations). */
  close(): void {
    if (this.#flushTimer !== undefined) clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    this.flushSync();
    process.off("exit", this.#onExit);
  }

  #takePending(): string {
    const text = this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join("");
    this.#pending = [];
    this.#pendingLength = 0;
    return text;
  }

  #writePending(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    this.#writing = Buffer.from(this.#takePending(), "utf8");
    this.#writeInFlight();
  }

  #writeInFlight(): void {
    const chunk = this.#writing;
    if (chunk === undefined) return;
    write(this.#fd, chunk, 0, chunk.length, null, (error, written) => {
      if (this.#writing !== chunk) return; // flushSync took it meanwhile
      if (error !== null) {
        if (error.code === "EAGAIN") {
          setTimeout(() => this.#writeInFlight(), RETRY_AFTER_MS).unref();
          return;
        }
        this.#fail(error);
        return;
      }
      this.#writing = written < chunk.length ? chunk.subarray(written) : undefined;
      if (this.#writing !== undefined) this.#writeInFlight();
      else if (this.#pending.length > 0 && (this.#pendingLength >= this.#minBytes || this.#waiting.length > 0)) this.#writePending();
      else {
        if (this.#pending.length > 0) this.#flushTimer ??= setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
        this.#settleWaiting();
      }
    });
  }

  #settleWaiting(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const done of waiting) done();
  }

  #fail(error: NodeJS.ErrnoException): void {
    if (!this.#failed && error.code !== "EPIPE") {
      try {
        writeSync(2, `seat-booking: the log could not be written, lines are dropped from now on: ${error.message}\n`);
      } catch {
        // stderr is gone too: nothing is left to tell
      }
    }
    this.#failed = true;
    this.#pending = [];
    this.#pendingLength = 0;
    this.#writing = undefined;
    this.#settleWaiting();
  }
}
