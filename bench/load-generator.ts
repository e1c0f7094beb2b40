/**
 * Entry point of a load-generator process (forked by the benchmark with an
 * IPC channel). It runs one {@link LoadRun} per `prepare`/`go` pair and
 * exits on `exit` or when the parent goes away.
 */
import { LoadRun } from "./load-loop.js";
import type { FromGenerator, ToGenerator } from "./load-protocol.js";

// grpc-js hands the IP address to TLS as the server name, which Node flags
// (DEP0123) on every connection to 127.0.0.1: noise in the benchmark's output.
const printWarning = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (warning: Error & { code?: string }) => {
  if (warning.code !== "DEP0123") for (const print of printWarning) print(warning);
});

if (process.send === undefined) {
  process.stderr.write("load-generator: run me through child_process.fork (I need an IPC channel)\n");
  process.exit(2);
}

const send = (message: FromGenerator): void => {
  process.send?.(message);
};
let current: LoadRun | undefined;

process.on("message", (message: ToGenerator) => {
  switch (message.type) {
    case "prepare": {
      try {
        current = new LoadRun(message.job);
      } catch (error) {
        send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
        return;
      }
      current.connect().then(
        () => send({ type: "ready" }),
        (error: unknown) => send({ type: "failed", message: `could not connect: ${error instanceof Error ? error.message : String(error)}` }),
      );
      return;
    }
    case "go": {
      const run = current;
      if (run === undefined) {
        send({ type: "failed", message: "go before prepare" });
        return;
      }
      run
        .go((completed, elapsedMs) => send({ type: "progress", completed, elapsedMs }))
        .then(
          (result) => send({ type: "result", result }),
          (error: unknown) => send({ type: "failed", message: error instanceof Error ? error.message : String(error) }),
        )
        .finally(() => {
          run.close();
          if (current === run) current = undefined;
        });
      return;
    }
    case "exit":
      current?.close();
      process.disconnect();
      return;
  }
});

process.on("disconnect", () => {
  current?.close();
  process.exit(0);
});
