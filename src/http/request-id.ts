/**
 * Request ids: a client's `x-request-id` is echoed when it is sane, otherwise one is minted. It is
 * sent to native as `metadata.trace_id` (native's `external_trace_id`), so one id follows a request
 * from the client through the gateway log into 1flowbase.
 */
const SANE = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestIdFrom(headers: Headers): string {
  const given = headers.get("x-request-id")?.trim();
  if (given && SANE.test(given)) return given;
  return `req_${crypto.randomUUID().replace(/-/g, "")}`;
}
