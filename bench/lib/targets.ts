/**
 * Row labels of the translating floor (bench/translating-floor-worker.ts) in bench/e2e.ts and
 * bench/report.ts: the chat/Messages shape (the Response at native's headers) and the Responses shape
 * (native's first event read before answering).
 */
export const TRANSLATING_FLOOR = "translating floor";
export const TRANSLATING_FLOOR_FIRST = "translating floor · first";
