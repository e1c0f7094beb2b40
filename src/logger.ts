import { pino, type Logger } from "pino";

/**
 * The service's JSON logger. Lines go to stdout through an asynchronous
 * buffer (a line per RPC must not cost a write syscall each); call
 * `logger.flush()` before exit and after lines others wait for;
 * a timer flushes twice a second otherwise.
 *
 * Keys, certificates and connection strings never reach the log: the paths
 * below are redacted wherever they appear.
 */
export function createLogger(level: string, destination: number | string = 1): Logger {
  const logger = pino(
    {
      level,
      base: { service: "seat-booking" },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ["key", "*.key", "privateKey", "*.privateKey", "password", "*.password", "connectionString", "*.connectionString"],
        censor: "[redacted]",
      },
    },
    pino.destination({ dest: destination, sync: false, minLength: 4096 }),
  );
  // A quiet server must not hold its last lines back for long.
  setInterval(() => logger.flush(), 500).unref();
  return logger;
}
