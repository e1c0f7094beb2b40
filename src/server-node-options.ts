/**
 * The Node options `booking serve` runs with: `npm start` and the `booking`
 * command's `#!` line pass them (Node refuses them in NODE_OPTIONS), and the
 * benchmark starts the service, and its baseline, with them too. A test keeps
 * the three places in step with this list.
 *
 * `--min-semi-space-size=16` keeps V8's young generation at its default
 * maximum (16 MB per semi-space) instead of letting it shrink to 1 MB and
 * grow back. Shrunk, it is collected so often that the objects of calls
 * still in flight survive two collections and are copied into the old
 * generation: under book-1 load about 4-5 kB per call was promoted that way
 * and died there, and the collector's time was the largest part of the
 * service's CPU per call beyond the baseline's. Kept at 16 MB, about 1 kB
 * per call is promoted (the request-id records and the change log, which do
 * live long). The price is up to 32 MB more resident memory.
 */
export const SERVER_NODE_OPTIONS: readonly string[] = ["--min-semi-space-size=16"];
