import { status } from "@grpc/grpc-js";
import { errorInfo, richStatus } from "../error-status.js";
import type { AdmissionCall, AdmissionStep, Refusal } from "./admission-step.js";

/**
 * Refuses principals outside the allow-list (`--allow`) with
 * PERMISSION_DENIED (PRINCIPAL_NOT_ALLOWED). Without a list, everyone with a
 * valid certificate passes.
 */
export class AllowListStep implements AdmissionStep {
  readonly name = "allow_list";
  readonly #allowed: ReadonlySet<string> | undefined;

  constructor(allowed: Iterable<string> | undefined) {
    this.#allowed = allowed === undefined ? undefined : new Set(allowed);
  }

  admit({ principal }: AdmissionCall): Refusal | undefined {
    if (this.#allowed === undefined || this.#allowed.has(principal)) return undefined;
    return {
      limit: "not_allowed",
      status: richStatus(status.PERMISSION_DENIED, `principal ${principal} is not allowed to call this service`, [
        errorInfo("PRINCIPAL_NOT_ALLOWED", { principal }),
      ]),
    };
  }
}
