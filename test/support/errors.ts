/** Test helper: the `GatewayError` a synchronous call throws (fails the test if it throws nothing or something else). */
import { expect } from "vitest";
import { GatewayError } from "../../src/http/errors";

export function thrownGatewayError(fn: () => unknown): GatewayError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, "expected a GatewayError to be thrown").toBeInstanceOf(GatewayError);
  return caught as GatewayError;
}
