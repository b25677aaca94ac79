/**
 * The Responses WebSocket mode's own server events, beside the stream events the encoder writes
 * (stream.ts): the `error` event of a turn that could not start and `response.steer.failed`. The
 * transport (routes/responses-ws.ts) only sends them.
 *
 * Shapes: OpenAI's WebSocket events reference and openai-node 7.57 (`ResponseErrorEvent` over a
 * socket carries the HTTP status and the HTTP envelope's error object; `ResponseSteerFailedEvent`).
 */
import { GatewayError, openAiErrorBody } from "../../http/errors";

/** `{"type":"error","status":…,"error":{message,type,param,code}}`: the HTTP error, as one message. */
export function socketErrorEvent(error: GatewayError): string {
  return JSON.stringify({ type: "error", status: error.status, error: openAiErrorBody(error).error });
}

/**
 * `response.steer` refused: a native run takes no input once started, so steering cannot be honoured
 * and its input is handed back for the next `response.create`.
 */
export function steerFailedEvent(previousResponseId: string, input: unknown): string {
  return JSON.stringify({
    type: "response.steer.failed",
    sequence_number: 0,
    steer: { previous_response_id: previousResponseId, input },
    error: {
      type: "invalid_request_error",
      code: "steering_not_supported",
      message: "steering is not supported: a 1flowbase run takes no input once started; send the input with the next response.create",
    },
  });
}

/** `message` (one JSON object) with the lane's `stream_id`, as OpenAI echoes it on every event of a lane. */
export function withStreamId(message: string, streamId: string | undefined): string {
  return streamId === undefined ? message : `${message.slice(0, -1)},"stream_id":${JSON.stringify(streamId)}}`;
}

/**
 * The socket has reached its lifetime limit (`WEBSOCKET_MAX_CONNECTION_MS`): OpenAI's
 * `websocket_connection_limit_reached`, as OpenAI sends it — status 400, `invalid_request_error`
 * (the shape Codex's own test fixture carries, codex-rs/codex-api/src/endpoint/responses_websocket.rs
 * at openai/codex@00033d92; Codex treats the code as retryable and reconnects).
 */
export function connectionLimitReached(maxConnectionMs: number): GatewayError {
  const limit = maxConnectionMs % 60_000 === 0 ? `${maxConnectionMs / 60_000} minutes` : `${maxConnectionMs} ms`;
  return new GatewayError({
    status: 400,
    code: "websocket_connection_limit_reached",
    message:
      `Responses websocket connection limit reached (${limit}). Create a new websocket connection to continue: ` +
      "stored responses chain from the new socket by previous_response_id; a store:false chain starts again from its full input.",
  });
}
