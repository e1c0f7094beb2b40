/** How the benchmark configures the baseline server (JSON in argv[2]). */
export interface BaselineServerConfig {
  readonly caCertPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  readonly showId: string;
  readonly showSeats: number;
  readonly maxConcurrentStreams: number;
}

/** Benchmark to baseline server: "loop" asks for the largest event-loop delay since the last ask. */
export type ToBaseline = { readonly type: "loop" };

/** Baseline server to benchmark. */
export type FromBaseline =
  | { readonly type: "listening"; readonly port: number }
  | { readonly type: "loop"; readonly loopMaxMs: number };
