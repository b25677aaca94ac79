// The official SDKs as a browser app gets them: their package entry points, bundled for the
// browser by `npm run test:browser` (esbuild, platform "browser", the packages' own "browser" fields).
export { default as OpenAI } from "openai";
export { default as Anthropic } from "@anthropic-ai/sdk";
