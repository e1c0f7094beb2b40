import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from "node:http2";
import type { TestCertificate } from "./test-pki.js";

/** What a raw gRPC exchange ended with. */
export interface RawH2Result {
  readonly httpStatus: number | undefined;
  /** grpc-status from the trailers (or a trailers-only response); undefined when none came. */
  readonly grpcStatus: number | undefined;
  readonly grpcMessage: string;
  /** The RST_STREAM code when the stream was reset instead of ended. */
  readonly rstCode: number;
  /** Response body bytes (gRPC framed). */
  readonly body: Buffer;
}

/**
 * Opens a bare HTTP/2 session over mutual TLS, so that a test can write what
 * grpc-js clients never would: any grpc-timeout, any grpc-encoding, any
 * framing, streams held open. Resolves once the server's SETTINGS arrived.
 */
export async function openRawSession(address: string, caCert: Buffer, who: TestCertificate): Promise<ClientHttp2Session> {
  const session = connect(`https://${address}`, { ca: caCert, cert: who.cert, key: who.key });
  await new Promise<void>((resolve, reject) => {
    session.once("remoteSettings", () => resolve());
    session.once("error", reject);
  });
  return session;
}

/** One gRPC length-prefixed message: flag byte, big-endian length, bytes. */
export function grpcFrame(message: Uint8Array, compressed = false): Buffer {
  const frame = Buffer.alloc(5 + message.byteLength);
  frame.writeUInt8(compressed ? 1 : 0, 0);
  frame.writeUInt32BE(message.byteLength, 1);
  frame.set(message, 5);
  return frame;
}

/** Opens a gRPC request stream on `path` with extra headers, without ending it. */
export function openGrpcStream(
  session: ClientHttp2Session,
  path: string,
  headers: OutgoingHttpHeaders = {},
): ClientHttp2Stream {
  return session.request({
    [constants.HTTP2_HEADER_METHOD]: "POST",
    [constants.HTTP2_HEADER_PATH]: path,
    [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
    [constants.HTTP2_HEADER_TE]: "trailers",
    ...headers,
  });
}

/** Collects how `stream` ends: status from trailers or headers, or its reset code. */
export function streamResult(stream: ClientHttp2Stream): Promise<RawH2Result> {
  return new Promise((resolve) => {
    let httpStatus: number | undefined;
    let grpcStatus: number | undefined;
    let grpcMessage = "";
    const chunks: Buffer[] = [];
    const take = (headers: Record<string, unknown>): void => {
      if (headers["grpc-status"] !== undefined) grpcStatus = Number(headers["grpc-status"]);
      if (typeof headers["grpc-message"] === "string") grpcMessage = decodeURIComponent(headers["grpc-message"]);
    };
    stream.on("response", (headers) => {
      httpStatus = Number(headers[constants.HTTP2_HEADER_STATUS]);
      take(headers);
    });
    stream.on("trailers", take);
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A reset stream emits "error" before "close"; the close below reports it.
    stream.on("error", () => undefined);
    stream.on("close", () =>
      resolve({ httpStatus, grpcStatus, grpcMessage, rstCode: stream.rstCode ?? 0, body: Buffer.concat(chunks) }),
    );
  });
}

/** A whole unary exchange: headers, the body bytes (already framed), end. */
export function rawUnary(
  session: ClientHttp2Session,
  path: string,
  body: Uint8Array,
  headers: OutgoingHttpHeaders = {},
): Promise<RawH2Result> {
  const stream = openGrpcStream(session, path, headers);
  const result = streamResult(stream);
  stream.end(body);
  return result;
}

/** Resolves after a PING round trip: every frame sent before it has reached the server. */
export function pingRoundTrip(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve, reject) =>
    session.ping((error) => (error === null ? resolve() : reject(error))),
  );
}

/** Closes the session and waits until it is gone. */
export function closeRawSession(session: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => session.close(() => resolve()));
}
