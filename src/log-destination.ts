import { write, writeSync } from "node:fs";

/** How long to wait before retrying a write the descriptor refused with EAGAIN (a full non-blocking pipe). */
const RETRY_AFTER_MS = 10;

/** The least a fresh line buffer holds: a batch of `minBytes` fits with room to spare. */
const MIN_BUFFER_BYTES = 16 * 1024;

const EMPTY = Buffer.alloc(0);

/**
 * Where the JSON log's lines go: a file descriptor (stdout), written
 * asynchronously in batches of at least `minBytes`, one write in flight,
 * and no line waits longer than `maxDelayMs` for its write to start.
 *
 * pino's own destination (sonic-boom 4) appends each line to a growing
 * string and asks that string's UTF-8 length on every line, which flattens
 * it: about 7 kB copied on the V8 heap per line at a line per call, the
 * largest allocation of a booking. Here each line is encoded into a byte
 * buffer as it arrives (0.16-0.23 µs a line, against 0.24-0.56 µs to keep
 * the strings and join them per write, measured alone), so no line string
 * outlives its call on the heap.
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
  /** Earlier buffers of pending lines that filled up, oldest first. */
  #filled: Buffer[] = [];
  /** The buffer lines are encoded into; its first `#used` bytes are pending. */
  #current: Buffer = EMPTY;
  #used = 0;
  /** Bytes pending in `#filled` and `#current`. */
  #pendingBytes = 0;
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
    // A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
    if (this.#current.length - this.#used < line.length * 3) this.#freshBuffer(line.length * 3);
    const bytes = this.#current.write(line, this.#used);
    this.#used += bytes;
    this.#pendingBytes += bytes;
    if (this.#writing === undefined && this.#pendingBytes >= this.#minBytes) this.#writePending();
    else this.#flushTimer ??= setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
    return true;
  }

  /** Sets the pending bytes of the current buffer aside and starts one with room for at least `room` bytes. */
  #freshBuffer(room: number): void {
    if (this.#used > 0) this.#filled.push(this.#current.subarray(0, this.#used));
    this.#current = Buffer.allocUnsafeSlow(Math.max(room, 2 * this.#minBytes, MIN_BUFFER_BYTES));
    this.#used = 0;
  }

  #flushLate(): void {
    this.#flushTimer = undefined;
    if (this.#writing === undefined) {
      if (this.#pendingBytes > 0) this.#writePending();
    } else if (this.#pendingBytes > 0) {
      // A write is still in flight: look again once more time has passed.
      this.#flushTimer = setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
    }
  }

  /** Writes what is pending; `done` runs once everything queued so far is written (or dropped). */
  flush(done?: (error?: Error) => void): void {
    if (this.#writing === undefined && this.#pendingBytes > 0) this.#writePending();
    if (done === undefined) return;
    if (this.#writing === undefined) process.nextTick(done);
    else this.#waiting.push(() => done());
  }

  /** Writes everything pending now, blocking: for the process's last moments. */
  flushSync(): void {
    const rest = this.#writing === undefined ? [] : [this.#writing];
    if (this.#pendingBytes > 0) rest.push(this.#takePending());
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

  /** The pending bytes, in order; the current buffer's free tail takes the next lines. */
  #takePending(): Buffer {
    const last = this.#current.subarray(0, this.#used);
    const taken = this.#filled.length === 0 ? last : Buffer.concat([...this.#filled, last]);
    this.#filled = [];
    this.#current = this.#current.subarray(this.#used);
    this.#used = 0;
    this.#pendingBytes = 0;
    return taken;
  }

  #writePending(): void {
    if (this.#flushTimer !== undefined) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    this.#writing = this.#takePending();
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
      else if (this.#pendingBytes > 0 && (this.#pendingBytes >= this.#minBytes || this.#waiting.length > 0)) this.#writePending();
      else {
        if (this.#pendingBytes > 0) this.#flushTimer ??= setTimeout(() => this.#flushLate(), this.#maxDelayMs).unref();
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
    this.#filled = [];
    this.#current = EMPTY;
    this.#used = 0;
    this.#pendingBytes = 0;
    this.#writing = undefined;
    this.#settleWaiting();
  }
}
