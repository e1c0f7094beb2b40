/** gRPC target schemes grpc-js resolves itself; such a target is passed through as written. */
const TARGET_SCHEME = /^(dns|ipv4|ipv6|unix|unix-abstract|vsock):/;

/** HOST:PORT: a name or IPv4 address, or a bracketed IPv6 address, and a port. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+(%[\w.-]+)?\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

/**
 * Refuses, with a TypeError naming `option`, an address the SDK would only
 * fail on later: grpc-js accepts "127.0.0.1:abc" or "http://host:1" and
 * each call then ends UNAVAILABLE after every retry, "" throws a plain
 * Error, and "127.0.0.1" quietly dials port 443.
 */
export function checkServerAddress(option: string, address: unknown): void {
  if (typeof address === "string" && TARGET_SCHEME.test(address)) return;
  const port = typeof address === "string" ? Number(HOST_PORT.exec(address)?.[4]) : Number.NaN;
  if (port >= 1 && port <= 65535) return;
  throw new TypeError(
    `${option} must be "host:port" (a name or IPv4 address, or [IPv6], and a port 1-65535) or a grpc target such as "dns:///host:port", got ${JSON.stringify(address)}`,
  );
}
