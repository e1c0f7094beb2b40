import type { Deadline } from "@grpc/grpc-js";

/** What a method learns about its call besides the request. */
export interface RpcContext {
  /** Who is calling, as admission established. */
  readonly principal: string;
  /** Epoch ms; undefined when the client set no deadline. */
  readonly deadline: number | undefined;
  /**
   * The log-correlation id (`x-request-id`), for log lines about this call.
   * Not the idempotency key: that is the request's `request_id` field.
   */
  readonly correlationId: string;
}

/** A call's deadline in epoch ms, or undefined when the client set none. */
export function deadlineOf(call: { getDeadline(): Deadline }): number | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline.getTime();
  return Number.isFinite(deadline) ? deadline : undefined;
}
