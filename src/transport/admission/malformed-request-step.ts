import { status } from "@grpc/grpc-js";
import { errorInfo, richStatus } from "../error-status.js";
import type { AdmissionCall, AdmissionStep, Refusal } from "./admission-step.js";

/**
 * Stands in for a request whose bytes are not a valid message. grpc-js
 * answers a throwing deserializer with INTERNAL, which blames the server; the
 * server's deserializers return this instead, and
 * {@link MalformedRequestStep} answers INVALID_ARGUMENT.
 */
export class MalformedRequest {
  constructor(
    readonly typeName: string,
    readonly problem: string,
  ) {}
}

/**
 * Refuses a call whose request did not decode with INVALID_ARGUMENT
 * (MALFORMED_REQUEST). The last step: a caller over a limit hears about the
 * limit, whatever it sent.
 */
export class MalformedRequestStep implements AdmissionStep {
  readonly name = "malformed_request";

  admit({ request }: AdmissionCall): Refusal | undefined {
    if (!(request instanceof MalformedRequest)) return undefined;
    return {
      limit: undefined,
      status: richStatus(status.INVALID_ARGUMENT, `the request is not a valid ${request.typeName}: ${request.problem}`, [
        errorInfo("MALFORMED_REQUEST"),
      ]),
    };
  }
}
