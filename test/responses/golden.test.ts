/**
 * Golden fixtures: native SSE bytes in, Responses SSE bytes out (test/fixtures/responses, see
 * project.ts there). Byte-exact, so any change to event order, fields or framing shows up as a diff
 * to review; every expected stream also passes the strict order checker.
 */
import { describe, expect, it } from "vitest";
import { FIXTURES, projectFixture } from "../fixtures/responses/project";
import { checkEventOrder, parseSse } from "./helpers";

const files = import.meta.glob("../fixtures/responses/*.sse", { query: "?raw", import: "default", eager: true }) as Record<string, string>;

function fixture(name: string): string {
  const text = files[`../fixtures/responses/${name}`];
  if (text === undefined) throw new Error(`missing fixture ${name}`);
  return text;
}

describe("golden native SSE → Responses SSE", () => {
  it("covers every fixture file", () => {
    const natives = Object.keys(files).filter((path) => path.endsWith(".native.sse")).map((path) => path.replace(/^.*\/(.+)\.native\.sse$/, "$1"));
    expect(natives.sort()).toEqual([...FIXTURES].sort());
  });

  it.each(FIXTURES)("%s", async (name) => {
    const expected = fixture(`${name}.responses.sse`);
    const actual = await projectFixture(new TextEncoder().encode(fixture(`${name}.native.sse`)));
    expect(actual).toBe(expected);
    const final = checkEventOrder(parseSse(expected));
    expect(JSON.stringify(final)).not.toContain("<think>");
  });
});
