/**
 * True for a host name or address that only this machine can reach:
 * `localhost`, `::1` (bracketed or not) and 127.0.0.0/8. The rule config
 * applies to `--dashboard-listen`: anything else needs
 * `--dashboard-allow-remote`. Names other than `localhost` are not resolved,
 * so a name that happens to point at 127.0.0.1 still counts as remote.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === "localhost" || bare === "::1") return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bare);
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255);
}

/**
 * True when an HTTP Host header names this machine by a loopback name
 * (any port). A loopback-bound dashboard answers only such requests, so a
 * web page elsewhere cannot read it through DNS rebinding (its requests carry
 * the attacker's host name).
 */
export function isLoopbackHostHeader(header: string | undefined): boolean {
  if (header === undefined || header === "") return false;
  const match = /^(\[[^\]]*\]|[^:]*)(?::\d{1,5})?$/.exec(header);
  return match !== null && isLoopbackHost(match[1] ?? "");
}
