import { pino, type Logger } from "pino";

/** The fields of the per-call log line, in their order on the line. */
export interface AccessLineFields {
  readonly method: string;
  readonly principal: string | null;
  /** The gRPC status code's name: OK, ALREADY_EXISTS... */
  readonly code: string;
  readonly durationMs: number;
  readonly correlationId: string;
  readonly refusedBy?: string | undefined;
}

/** Writes one per-call line at level info. */
export type AccessLineWriter = (fields: AccessLineFields) => void;

const INFO = 30;

/**
 * Writes the line `logger.info({ method, principal, code, duration_ms,
 * correlation_id, request_id, refused_by }, message)` would write, byte for
 * byte, straight to the logger's destination: pino's level prefix, its time
 * function, the logger's bindings, then the fields. pino's general path
 * iterates the object's keys and asks each value's type on every call; a
 * CPU profile of book-1 charged it, with the object built for it, about
 * 1.5 µs of every call.
 *
 * Strings are quoted with `JSON.stringify`, which writes the same bytes as
 * pino for every well-formed string; a lone UTF-16 surrogate, which pino's
 * short-string path would leave raw (and the UTF-8 encoder turn into
 * U+FFFD), comes out escaped instead. Method names, principals from
 * certificates and correlation ids (printable ASCII or a UUID) hold none.
 *
 * Returns undefined when the logger does something this does not
 * reproduce (a mixin, hooks, a log formatter, a message prefix, a nested
 * key, serializers or redaction of these keys, a multistream destination),
 * or when info is off: the caller then logs through pino.
 */
export function accessLineWriter(logger: Logger, message: string): AccessLineWriter | undefined {
  const symbols = pino.symbols;
  const internals = logger as unknown as Record<symbol, unknown>;
  const hooks = internals[symbols.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const formatters = internals[symbols.formattersSym] as { log?: unknown } | undefined;
  const serializers = (internals[symbols.serializersSym] ?? {}) as Record<string | symbol, unknown>;
  const stringifiers = (internals[symbols.stringifiersSym] ?? {}) as Record<string | symbol, unknown>;
  const stream = internals[symbols.streamSym] as { write(line: string): unknown; [key: symbol]: unknown } | undefined;
  const levelPrefix = (internals[symbols.lsCacheSym] as Record<number, string> | undefined)?.[INFO];
  const time = internals[symbols.timeSym] as (() => string) | undefined;
  const bindings = internals[symbols.chindingsSym];
  const end = internals[symbols.endSym];
  const keys = ["method", "principal", "code", "duration_ms", "correlation_id", "request_id", "refused_by", "msg"];
  const reproducible =
    logger.isLevelEnabled("info") &&
    internals[symbols.mixinSym] == null &&
    hooks?.logMethod === undefined &&
    hooks?.streamWrite === undefined &&
    formatters?.log === undefined &&
    // Not in pino's types, but set by child loggers made with a msgPrefix.
    (symbols as unknown as Record<string, symbol | undefined>)["msgPrefixSym"] !== undefined &&
    internals[(symbols as unknown as Record<string, symbol>)["msgPrefixSym"] as symbol] === undefined &&
    !internals[symbols.nestedKeySym] &&
    internals[symbols.messageKeySym] === "msg" &&
    keys.every((key) => serializers[key] === undefined && stringifiers[key] === undefined) &&
    serializers[symbols.wildcardFirstSym] === undefined &&
    stringifiers[symbols.wildcardFirstSym] === undefined &&
    stream !== undefined &&
    stream[symbols.needsMetadataGsym] !== true &&
    typeof levelPrefix === "string" &&
    typeof time === "function" &&
    typeof bindings === "string" &&
    typeof end === "string";
  if (!reproducible) return undefined;
  const ending = `,"msg":${JSON.stringify(message)}${end}`;
  return (fields) => {
    const correlationId = JSON.stringify(fields.correlationId);
    const refusedBy = fields.refusedBy === undefined ? "" : `,"refused_by":${JSON.stringify(fields.refusedBy)}`;
    stream.write(
      `${levelPrefix}${time.call(logger)}${bindings},"method":${JSON.stringify(fields.method)},"principal":${JSON.stringify(fields.principal)},"code":${JSON.stringify(fields.code)},"duration_ms":${Number.isFinite(fields.durationMs) ? fields.durationMs : null},"correlation_id":${correlationId},"request_id":${correlationId}${refusedBy}${ending}`,
    );
  };
}
