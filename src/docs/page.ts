/**
 * `GET /docs`: the OpenAPI document rendered as one self-contained HTML page.
 *
 * Rendered at build time (scripts/build-docs.ts, deployed as a static asset: src/routes/docs.ts)
 * rather than by a client-side renderer: the page is readable the moment it arrives (no second
 * request, works with scripts off) and needs no asset besides itself (the gateway runs where a CDN
 * may be unreachable — the page must work offline). Nothing on it depends on the deployment: the
 * inline script only adds a filter box, opens the schema a link points at and writes the gateway's
 * own origin (the page's `location`) into the examples.
 *
 * Layout: one entry per operation (aliases are listed in it, not repeated), its example (request and
 * answer) before its reference tables, long tables (parameter policy, stream events, answer fields)
 * folded into `<details>`, one shared Errors table, and a single column under 900 px where every
 * table and code block scrolls inside its own box — the page itself never scrolls sideways.
 *
 * Input is our own document, but every string is HTML-escaped anyway: descriptions quote things like
 * `<think>`.
 */
import { examples, SDK_SETUP } from "./examples";
import type { Json } from "./openapi";
import { POLICY_PREAMBLE } from "./policy-table";

type Schema = Json;

const esc = (text: string): string =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const isObj = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const objs = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObj) : []);
const str = (value: unknown): string => (typeof value === "string" ? value : "");

/** `components/schemas/X` anchors; the name is a component key (letters, digits, `._-`). */
const anchor = (name: string): string => `schema-${name}`;
const refName = (schema: Schema): string | null => {
  const target = str(schema.$ref);
  return target.startsWith("#/components/schemas/") ? target.slice(21) : null;
};

// ---------------------------------------------------------------------------------------------
// Markdown: the subset our descriptions use (paragraphs, pipe tables, `code`, **bold**, *em*).
// ---------------------------------------------------------------------------------------------

function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[\s(])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>");
}

/** Splits a pipe-table row on `|` that are not escaped as `\|`. */
function cells(row: string): string[] {
  const body = row.trim().replace(/^\|/, "").replace(/\|$/, "");
  return body.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

export function markdown(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((block) => {
      const lines = block.trim().split("\n");
      if (lines.length >= 2 && lines.every((line) => line.trim().startsWith("|"))) {
        const [head = "", , ...rows] = lines;
        const th = cells(head).map((cell) => `<th>${inline(cell)}</th>`).join("");
        const tr = rows.map((row) => `<tr>${cells(row).map((cell) => `<td>${inline(cell)}</td>`).join("")}</tr>`).join("");
        return `<table class="policy"><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table>`;
      }
      return `<p>${inline(block)}</p>`;
    })
    .join("");
}

// ---------------------------------------------------------------------------------------------
// JSON Schema → readable HTML
// ---------------------------------------------------------------------------------------------

const isNull = (schema: Schema): boolean => schema.type === "null";

/** Union branches, flattened (zod nests `anyOf` for nullable unions), without the `null` branch. */
function branches(schema: Schema): { options: Schema[]; nullable: boolean } {
  const list = [...objs(schema.anyOf), ...objs(schema.oneOf)];
  const options: Schema[] = [];
  let nullable = false;
  for (const option of list) {
    if (isNull(option)) nullable = true;
    else if (!option.$ref && (option.anyOf || option.oneOf) && !option.properties) {
      const inner = branches(option);
      options.push(...inner.options);
      nullable ||= inner.nullable;
    } else options.push(option);
  }
  return { options, nullable };
}

function constraints(schema: Schema): string {
  const out: string[] = [];
  const add = (key: string, label: string) => {
    if (schema[key] !== undefined) out.push(`${label} ${JSON.stringify(schema[key])}`);
  };
  add("minimum", "≥");
  add("exclusiveMinimum", ">");
  add("maximum", "≤");
  add("minLength", "min length");
  add("maxLength", "max length");
  add("minItems", "min items");
  add("maxItems", "max items");
  add("default", "default");
  return out.length ? ` <span class="c">${esc(out.join(", "))}</span>` : "";
}

/** A one-line type: `string`, `"chat.completion"`, `array of ChatMessage`, `Model | null`. */
export function typeLabel(schema: Schema): string {
  const name = refName(schema);
  if (name) return `<a href="#${anchor(name)}">${esc(name)}</a>`;
  if (schema.const !== undefined) return `<code>${esc(JSON.stringify(schema.const))}</code>`;
  if (Array.isArray(schema.enum)) return schema.enum.map((value) => `<code>${esc(JSON.stringify(value))}</code>`).join(" | ");
  if (schema.anyOf || schema.oneOf) {
    const { options, nullable } = branches(schema);
    const labels = options.map(typeLabel);
    if (nullable) labels.push("null");
    return labels.join(" | ");
  }
  const type = schema.type;
  if (Array.isArray(type)) return type.map(String).join(" | ");
  if (type === "array") {
    const items = isObj(schema.items) ? schema.items : {};
    if (isObj(items.not)) return "array (always empty)";
    return `array of ${typeLabel(items)}`;
  }
  if (type === "object" && !schema.properties) return isObj(schema.additionalProperties) || schema.additionalProperties === undefined ? "object (map)" : "object";
  if (typeof type === "string") return type;
  return "any";
}

/** The object schema whose fields deserve a nested table (directly, or as array items / the one non-null branch). */
function nestedObject(schema: Schema): Schema | null {
  if (schema.$ref) return null;
  if (isObj(schema.properties)) return schema;
  if (schema.type === "array" && isObj(schema.items)) return nestedObject(schema.items);
  const { options } = branches(schema);
  if (options.length === 1 && options[0]) return nestedObject(options[0]);
  return null;
}

/** Alternatives worth listing one by one (inline object variants of a union). */
function variants(schema: Schema): Schema[] {
  const target = schema.type === "array" && isObj(schema.items) ? schema.items : schema;
  const { options } = branches(target);
  return options.length > 1 && options.some((option) => isObj(option.properties)) ? options : [];
}

export function propertiesTable(schema: Schema, depth = 0): string {
  const properties = isObj(schema.properties) ? schema.properties : {};
  const required = new Set(Array.isArray(schema.required) ? schema.required.map(String) : []);
  const rows = Object.entries(properties)
    .filter((entry): entry is [string, Schema] => isObj(entry[1]))
    .map(([name, property]) => {
      const description = str(property.description);
      let nested = "";
      const object = nestedObject(property);
      if (object && depth < 4) nested = details(`${Object.keys(isObj(object.properties) ? object.properties : {}).length} fields`, propertiesTable(object, depth + 1));
      else if (depth < 4) nested = variantList(variants(property), depth + 1);
      return (
        `<tr><td><code>${esc(name)}</code>${required.has(name) ? ' <span class="req">required</span>' : ""}</td>` +
        `<td>${typeLabel(property)}${constraints(property)}</td><td>${description ? inline(description) : ""}${nested}</td></tr>`
      );
    })
    .join("");
  const extra = schema.additionalProperties === false ? "" : '<p class="note">Other fields are accepted.</p>';
  if (!rows) return extra;
  return `<table class="props"><thead><tr><th>Field</th><th>Type</th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>${depth === 0 ? extra : ""}`;
}

function variantList(options: Schema[], depth: number): string {
  if (options.length === 0) return "";
  const items = options
    .map((option) => {
      const type = isObj(option.properties) && isObj(option.properties.type) ? option.properties.type : null;
      const label = type && type.const !== undefined ? `<code>type: ${esc(JSON.stringify(type.const))}</code>` : typeLabel(option);
      const body = isObj(option.properties) ? propertiesTable(option, depth) : "";
      return `<li>${body ? details(label, body, true) : label}</li>`;
    })
    .join("");
  return `<ul class="variants">${items}</ul>`;
}

function details(summary: string, body: string, raw = false): string {
  if (!body) return "";
  return `<details><summary>${raw ? summary : esc(summary)}</summary>${body}</details>`;
}

/** A whole schema: its description, then its fields or its alternatives. */
export function schemaBlock(schema: Schema): string {
  const description = str(schema.description);
  const head = description ? `<p>${inline(description)}</p>` : "";
  if (isObj(schema.properties)) return head + propertiesTable(schema);
  const options = variants(schema);
  if (options.length) return `${head}<p>One of:</p>${variantList(options, 1)}`;
  return `${head}<p>Type: ${typeLabel(schema)}${constraints(schema)}</p>`;
}

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/** One documented operation: its canonical path, and the alias paths that answer exactly the same. */
export interface OperationView {
  method: string;
  path: string;
  operation: Json;
  aliases: ReadonlyArray<{ path: string; operationId: string }>;
}

const opKey = (method: string, path: string): string => `${method.toUpperCase()} ${path}`;

/**
 * The document's operations, one per canonical path: an alias (`x-alias-of`) is listed with its
 * canonical operation instead of repeating it — the alias answers the same request the same way.
 */
export function operationsOf(document: Json): OperationView[] {
  const out: OperationView[] = [];
  const byKey = new Map<string, Array<{ path: string; operationId: string }>>();
  const aliases: Array<{ method: string; path: string; of: string; operationId: string }> = [];
  for (const [path, item] of Object.entries(isObj(document.paths) ? document.paths : {})) {
    if (!isObj(item)) continue;
    for (const [method, operation] of Object.entries(item)) {
      if (!isObj(operation)) continue;
      const of = str(operation["x-alias-of"]);
      if (of) {
        aliases.push({ method, path, of, operationId: str(operation.operationId) });
        continue;
      }
      const aliasList: Array<{ path: string; operationId: string }> = [];
      out.push({ method, path, operation, aliases: aliasList });
      byKey.set(opKey(method, path), aliasList);
    }
  }
  for (const alias of aliases) {
    const canonical = byKey.get(opKey(alias.method, alias.of));
    if (canonical) canonical.push({ path: alias.path, operationId: alias.operationId });
    // An alias of nothing documented is still an operation: show it on its own rather than lose it.
    else out.push({ method: alias.method, path: alias.path, operation: { operationId: alias.operationId, summary: "" }, aliases: [] });
  }
  return out;
}

function schemaOf(components: Json, schema: Schema): Schema {
  const name = refName(schema);
  const target = name ? components[name] : schema;
  return isObj(target) ? target : {};
}

/** Tables and code scroll inside their own box, so nothing widens the page on a phone. */
const scroll = (html: string): string => `<div class="scroll">${html}</div>`;

function parametersHtml(operation: Json): string {
  const parameters = objs(operation.parameters);
  if (parameters.length === 0) return "";
  const rows = parameters
    .map((parameter) => {
      const schema = isObj(parameter.schema) ? parameter.schema : {};
      return (
        `<tr><td><code>${esc(str(parameter.name))}</code>${parameter.required === true ? ' <span class="req">required</span>' : ""}</td>` +
        `<td>${esc(str(parameter.in))}</td><td>${typeLabel(schema)}${constraints(schema)}</td><td>${inline(str(parameter.description))}</td></tr>`
      );
    })
    .join("");
  return `<h4>Parameters</h4>${scroll(`<table class="props"><thead><tr><th>Name</th><th>In</th><th>Type</th><th>Description</th></tr></thead><tbody>${rows}</tbody></table>`)}`;
}

function bodyHtml(operation: Json, components: Json): string {
  const body = isObj(operation.requestBody) ? operation.requestBody : null;
  const media = body && isObj(body.content) && isObj(body.content["application/json"]) ? body.content["application/json"] : null;
  if (!media || !isObj(media.schema)) return "";
  const schema = media.schema;
  return `<h4>Request body <span class="ct">application/json</span> ${typeLabel(schema)}</h4>${scroll(schemaBlock(schemaOf(components, schema)))}`;
}

/** The success answer; the error statuses, as links into the one shared Errors table. */
function responsesHtml(operation: Json, components: Json): string {
  const responses = isObj(operation.responses) ? operation.responses : {};
  let success = "";
  const errors: string[] = [];
  let envelope = "";
  for (const [status, response] of Object.entries(responses)) {
    if (!isObj(response)) continue;
    const content = isObj(response.content) ? response.content : {};
    if (!status.startsWith("2")) {
      const schema = isObj(content["application/json"]) && isObj(content["application/json"].schema) ? content["application/json"].schema : {};
      const name = refName(schema) ?? "";
      // Statuses with a body of their own (not an error envelope) say so where they are listed.
      if (name === "OpenAIError" || name === "AnthropicError") {
        envelope = name;
        errors.push(`<a class="st" href="#error-${esc(status)}">${esc(status)}</a>`);
      } else {
        errors.push(`<span class="st">${esc(status)}</span> ${inline(str(response.description))} (${typeLabel(schema)})`);
      }
      continue;
    }
    success += `<h4>Response <code>${esc(status)}</code></h4><p>${inline(str(response.description))}</p>`;
    for (const [type, media] of Object.entries(content)) {
      if (!isObj(media)) continue;
      const schema = isObj(media.schema) ? media.schema : {};
      if (type === "text/event-stream") {
        const events = isObj(media["x-sse-events"]) ? media["x-sse-events"] : {};
        const framing = media["x-sse-framing"] === "data-only" ? "data-only frames (<code>data: …</code>)" : "<code>event: &lt;type&gt;</code> + <code>data: {…}</code> frames";
        const rows = Object.entries(events)
          .filter((entry): entry is [string, Schema] => isObj(entry[1]))
          .map(([event, ref]) => `<tr><td><code>${esc(event)}</code></td><td>${details(esc(refName(ref) ?? event), schemaBlock(schemaOf(components, ref)), true)}</td></tr>`)
          .join("");
        const table = `<table class="props events"><thead><tr><th>Event</th><th>Data</th></tr></thead><tbody>${rows}</tbody></table>`;
        success += `<p><span class="ct">text/event-stream</span> ${framing}</p>${details(`${Object.keys(events).length} stream events`, scroll(table))}`;
      } else if (refName(schema)) {
        success += `<p><span class="ct">${esc(type)}</span> ${typeLabel(schema)}</p>${details("Fields", scroll(schemaBlock(schemaOf(components, schema))))}`;
      } else {
        success += `<p><span class="ct">${esc(type)}</span></p>`;
      }
    }
  }
  const errorLine = errors.length
    ? `<p class="errs"><strong>Errors</strong>${envelope ? ` (<a href="#${anchor(envelope)}">${esc(envelope)}</a> body)` : ""}: ${errors.join(" ")}</p>`
    : "";
  return success + errorLine;
}

/**
 * The one Errors table: the text of each status is the same on every operation that can answer it,
 * so the page says it once and each operation links its statuses here.
 */
function errorsTable(views: readonly OperationView[]): string {
  const texts = new Map<string, string>();
  for (const view of views) {
    const responses = isObj(view.operation.responses) ? view.operation.responses : {};
    for (const [status, response] of Object.entries(responses)) {
      if (status.startsWith("2") || !isObj(response) || texts.has(status)) continue;
      const content = isObj(response.content) ? response.content : {};
      const schema = isObj(content["application/json"]) && isObj(content["application/json"].schema) ? content["application/json"].schema : {};
      const name = refName(schema);
      if (name === "OpenAIError" || name === "AnthropicError") texts.set(status, str(response.description));
    }
  }
  const rows = [...texts.entries()]
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([status, text]) => `<tr id="error-${esc(status)}"><td><code>${esc(status)}</code></td><td>${inline(text)}</td></tr>`)
    .join("");
  return (
    `<h2 class="tag" id="errors">Errors</h2><p>Every error carries <code>x-request-id</code> and <code>x-should-retry</code> (the SDKs retry only when it says <code>true</code>); ` +
    `429 and 503 pass 1flowbase's <code>retry-after</code> through. OpenAI-family routes answer <a href="#${anchor("OpenAIError")}">OpenAIError</a>, ` +
    `<code>/v1/messages*</code> answers <a href="#${anchor("AnthropicError")}">AnthropicError</a>.</p>` +
    scroll(`<table class="props errors"><thead><tr><th>Status</th><th>When</th></tr></thead><tbody>${rows}</tbody></table>`)
  );
}

function authHtml(operation: Json): string {
  const security = Array.isArray(operation.security) ? operation.security : [];
  return security.length === 0
    ? '<p class="auth">No API key needed.</p>'
    : '<p class="auth">Auth: <code>Authorization: Bearer &lt;key&gt;</code> or <code>x-api-key: &lt;key&gt;</code> (a 1flowbase application key).</p>';
}

/**
 * The description, with the parameter policy (preamble + table, from `describeOperation`) folded
 * into a `<details>` that says what it holds: it is long, and the request body table comes first.
 */
function descriptionHtml(description: string): string {
  const blocks = description.split(/\n{2,}/);
  const policyAt = blocks.findIndex((block) => block.startsWith(POLICY_PREAMBLE.slice(0, 24)));
  if (policyAt < 0) return markdown(description);
  const text = blocks.slice(0, policyAt).join("\n\n");
  const policy = blocks.slice(policyAt).join("\n\n");
  const kinds = { mapped: 0, accepted: 0, rejected: 0 };
  for (const match of policy.matchAll(/^\| `[^`]+` \| (mapped|accepted|rejected) \|/gm)) kinds[match[1] as keyof typeof kinds] += 1;
  const summary = `Parameter policy: ${kinds.mapped} mapped · ${kinds.accepted} accepted · ${kinds.rejected} rejected`;
  return `${markdown(text)}<details class="policy"><summary>${esc(summary)}</summary>${scroll(markdown(policy))}</details>`;
}

const pre = (code: string, label: string): string => `<figure class="code"><figcaption>${esc(label)}</figcaption><pre><code>${esc(code)}</code></pre></figure>`;

function exampleHtml(operationId: string): string {
  const example = examples()[operationId];
  if (!example) return "";
  const request = pre(example.curl, "curl") + (example.sdk ? pre(example.sdk.code, example.sdk.label) : "");
  const body = example.response.body;
  const answer = typeof body === "string" ? body : JSON.stringify(body, null, 2);
  const response = pre(answer, `${example.response.status} ${example.response.contentType}`);
  const stream = example.stream ? details("Streamed (stream: true)", pre(example.stream.curl, "curl") + pre(example.stream.body, "200 text/event-stream")) : "";
  return `<div class="ex"><h4>Example</h4><div class="pair"><div>${request}</div><div class="answer">${response}</div></div>${stream}</div>`;
}

const opId = (view: OperationView): string => `op-${str(view.operation.operationId)}`;

function aliasesHtml(view: OperationView): string {
  if (view.aliases.length === 0) return "";
  const list = view.aliases
    .map((alias) => `<code class="alias" id="op-${esc(alias.operationId)}" data-alias="${esc(opKey(view.method, alias.path))}">${esc(alias.path)}</code>`)
    .join(", ");
  return `<p class="aliases">Also at ${list} — same request, answers and errors.</p>`;
}

function operationHtml(view: OperationView, components: Json): string {
  const { method, path, operation } = view;
  const searchable = [opKey(method, path), ...view.aliases.map((alias) => opKey(method, alias.path))].join(" ");
  return (
    `<article class="op" id="${esc(opId(view))}" data-op="${esc(opKey(method, path))}" data-search="${esc(searchable)}">` +
    `<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code class="path">${esc(path)}</code> <span class="sum">${esc(str(operation.summary))}</span></h3>` +
    aliasesHtml(view) +
    authHtml(operation) +
    descriptionHtml(str(operation.description)) +
    exampleHtml(str(operation.operationId)) +
    parametersHtml(operation) +
    bodyHtml(operation, components) +
    responsesHtml(operation, components) +
    `</article>`
  );
}

const STYLE = `
:root{--mut:#5b6673;--pan:#f5f7f9;--ln:#dde3e8;--ac:#0b63c5;--code:#f3f5f7}
*{box-sizing:border-box}body{margin:0;font:15px/1.55 system-ui,sans-serif;color:#1d232b}
code{font:13px/1.4 ui-monospace,Menlo,Consolas,monospace;background:#eef1f4;padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
a{color:var(--ac)}nav{position:fixed;top:0;bottom:0;left:0;width:300px;overflow:auto;padding:16px;background:var(--pan);border-right:1px solid var(--ln)}
nav h2{font-size:12px;text-transform:uppercase;color:var(--mut);margin:18px 0 6px}nav a{display:block;text-decoration:none;color:inherit;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
nav input{width:100%;padding:6px 8px;border:1px solid var(--ln);border-radius:6px;font:inherit}
main{margin-left:300px;padding:24px 40px;max-width:1240px;min-width:0}h2.tag{border-bottom:2px solid var(--ln);margin-top:40px}
.op{border:1px solid var(--ln);border-radius:8px;padding:4px 20px 12px;margin:20px 0}.sum,.c,.note,.auth,.ct,.aliases{color:var(--mut)}.sum{font-weight:400}
h3{overflow-wrap:anywhere}h4{margin:14px 0 6px}
.m{display:inline-block;min-width:58px;text-align:center;font:600 12px/20px monospace;color:#fff;border-radius:4px;margin:1px 0}
.get{background:#1f7a4d}.post{background:#0b63c5}.delete{background:#b42318}
.path{font-size:15px;background:none}.ct{font:12px monospace}.alias{color:#1d232b}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;margin:6px 0;font-size:14px}th,td{border:1px solid var(--ln);padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:var(--pan)}.req{color:#b42318;font-size:11px}.c,.note,.auth,.aliases{font-size:13px}
summary{cursor:pointer;color:var(--ac)}.variants{padding-left:18px}.hide{display:none}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px;align-items:start}
figure.code{margin:0 0 8px}figcaption{font:12px monospace;color:var(--mut);margin-bottom:2px}
pre{margin:0;background:var(--code);border:1px solid var(--ln);border-radius:6px;padding:8px 10px;overflow:auto;max-width:100%;line-height:1.4}
pre code{display:block;background:none;padding:0;border-radius:0;font-size:12.5px;line-height:inherit;white-space:pre;overflow-wrap:normal}.answer pre{max-height:300px}
.errs{font-size:14px}.st{display:inline-block;font:12px/18px monospace;padding:0 5px;border:1px solid var(--ln);border-radius:4px;margin:1px 2px;text-decoration:none}
@media (max-width:900px){
nav{position:static;width:auto;border-right:0;border-bottom:1px solid var(--ln);padding:12px}
nav .links{display:flex;flex-wrap:wrap;gap:2px 10px}nav h2{width:100%;margin:10px 0 2px}nav a{font-size:12px}
main{margin-left:0;padding:12px}.op{padding:2px 10px 10px}.pair{grid-template-columns:minmax(0,1fr)}
/* Under 900 px each table row is a card (name, type, text stacked): three columns do not fit 390 px. */
.m{min-width:44px}table{font-size:13px}
table.props,table.policy{border:0}table.props thead,table.policy thead{display:none}
table.props tr,table.policy tr{display:block;border:1px solid var(--ln);border-radius:6px;margin:6px 0;padding:4px 8px}
table.props td,table.policy td{display:block;border:0;padding:1px 0}table.props td:first-child,table.policy td:first-child{font-weight:600}
table.props td:first-child,table.props td:nth-child(2),table.policy td:first-child,table.policy td:nth-child(2){display:inline;margin-right:8px}
table.props td:empty,table.policy td:empty{display:none}
}
`;

/** Filter box, "open the schema a link points at", and this gateway's own URL in the examples; the page is complete without it. */
const SCRIPT = `
const q=document.getElementById("q");
q.addEventListener("input",()=>{const v=q.value.toLowerCase();
document.querySelectorAll("article.op").forEach(e=>e.classList.toggle("hide",!e.dataset.search.toLowerCase().includes(v)&&!e.textContent.toLowerCase().includes(v)));
document.querySelectorAll("nav a[data-op]").forEach(a=>{const t=document.getElementById(a.getAttribute("href").slice(1));a.classList.toggle("hide",!!t&&t.classList.contains("hide"))})});
const open=()=>{const t=location.hash&&document.getElementById(location.hash.slice(1));if(t&&t.tagName==="DETAILS")t.open=true};
addEventListener("hashchange",open);open();
const o=document.getElementById("origin");if(o&&/^https?:$/.test(location.protocol))o.textContent=location.origin;
`;

function examplesIntro(): string {
  return (
    `<h2 class="tag" id="examples">Examples</h2><p>Every operation below has a request (curl, and the official SDK call where there is one) and the answer it gets. They assume:</p>` +
    pre(`export GATEWAY=__ORIGIN__\nexport KEY=sk-…   # a 1flowbase application key\nexport ID=resp_…  # a response id, for the /v1/responses/{id} routes`, "shell").replace("__ORIGIN__", '<span id="origin">https://your-gateway.example.com</span>') +
    `<div class="pair"><div>${pre(SDK_SETUP.openai, "openai")}</div><div>${pre(SDK_SETUP["@anthropic-ai/sdk"], "@anthropic-ai/sdk")}</div></div>`
  );
}

/** The whole page for `document` (the result of `openApiDocument()`). */
export function renderDocsPage(document: Json): string {
  const info = isObj(document.info) ? document.info : {};
  const components = isObj(document.components) && isObj(document.components.schemas) ? document.components.schemas : {};
  const views = operationsOf(document);
  const tags = (objs(document.tags).map((tag) => str(tag.name)) as string[]).filter(Boolean);
  const tagOf = (view: OperationView): string => (Array.isArray(view.operation.tags) ? str(view.operation.tags[0]) : "");

  const nav: string[] = ['<input id="q" type="search" placeholder="Filter operations" aria-label="Filter operations"><div class="links">'];
  const main: string[] = [];
  for (const tag of tags) {
    const inTag = views.filter((view) => tagOf(view) === tag);
    if (inTag.length === 0) continue;
    nav.push(`<h2>${esc(tag)}</h2>`);
    main.push(`<h2 class="tag">${esc(tag)}</h2>`);
    for (const view of inTag) {
      nav.push(
        `<a href="#${esc(opId(view))}" data-op="${esc(opKey(view.method, view.path))}"><span class="m ${esc(view.method)}">${esc(view.method.toUpperCase())}</span> ${esc(view.path)}</a>`,
      );
      main.push(operationHtml(view, components));
    }
  }
  nav.push('<h2>Reference</h2><a href="#examples">Examples</a><a href="#errors">Errors</a><a href="#schemas">Schemas</a><a href="openapi.json">openapi.json</a></div>');

  const schemas = Object.entries(components)
    .filter((entry): entry is [string, Schema] => isObj(entry[1]))
    .map(([name, schema]) => `<details class="schema" id="${esc(anchor(name))}"><summary><code>${esc(name)}</code></summary>${scroll(schemaBlock(schema))}</details>`)
    .join("");

  const title = esc(str(info.title) || "API reference");
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<title>${title} — API reference</title><style>${STYLE}</style></head><body>` +
    `<nav>${nav.join("")}</nav><main><h1>${title}</h1><p class="c">Version ${esc(str(info.version))} · OpenAPI ${esc(str(document.openapi))} · <a href="openapi.json">openapi.json</a></p>` +
    `${markdown(str(info.description))}${examplesIntro()}${main.join("")}${errorsTable(views)}<h2 class="tag" id="schemas">Schemas</h2>${schemas}</main>` +
    `<script>${SCRIPT}</script></body></html>`
  );
}
