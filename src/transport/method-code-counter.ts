import { status } from "@grpc/grpc-js";
import type { Registry } from "prom-client";

/**
 * A Prometheus counter of calls by `method` and gRPC `code` that registers
 * in a prom-client registry and prints as prom-client's `Counter` prints (a
 * test compares the text), but counts with an array increment per call
 * instead of prom-client's label conversion, validation and hashing (see
 * method-latency-histogram.ts).
 */
export class MethodCodeCounter {
  readonly name: string;
  readonly help: string;
  readonly type = "counter";
  readonly aggregator = "sum";
  /** Per method, the count per numeric status code. */
  readonly #methods = new Map<string, number[]>();
  /** Each (method, code) in the order first counted: the order prom-client prints them in. */
  readonly #order: [string, status][] = [];

  constructor(options: { name: string; help: string; registers: readonly Registry[] }) {
    this.name = options.name;
    this.help = options.help;
    for (const registry of options.registers) registry.registerMetric(this as never);
  }

  inc(method: string, code: status): void {
    let counts = this.#methods.get(method);
    if (counts === undefined) {
      counts = [];
      this.#methods.set(method, counts);
    }
    const count = counts[code];
    if (count === undefined) {
      counts[code] = 1;
      this.#order.push([method, code]);
    } else counts[code] = count + 1;
  }

  /** prom-client's registry calls this when it resets its metrics. */
  reset(): void {
    this.#methods.clear();
    this.#order.length = 0;
  }

  /** What the registry prints: prom-client's `Counter.get()` shape. */
  async get(): Promise<{ name: string; help: string; type: string; values: { labels: Record<string, string>; value: number }[]; aggregator: string }> {
    const values: { labels: Record<string, string>; value: number }[] = [];
    for (const [method, code] of this.#order) {
      values.push({ labels: { method, code: status[code] as string }, value: this.#methods.get(method)?.[code] ?? 0 });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
