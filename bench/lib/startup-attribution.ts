/**
 * Where the worker's startup CPU goes, statement by statement: the map issue 19's lazy-schema work
 * follows.
 *
 * A CPU profile of `await import(bundle)` names functions, but our modules' top-level code is not a
 * function: esbuild hoists every module's top level into the bundle's one top-level scope, and a
 * sampled stack does not say which *line* of a caller was running. So the measured bundle is an
 * instrumented build of src/index.ts: every top-level statement of a src/ module that computes
 * something — `const X = <expression>`, an expression statement (`app.post(…)`), `export default …`
 * — runs inside a named function expression `__startup$<n>`, which V8's profiler reports as its own
 * frame. Each sample is then charged to the innermost such frame on its stack: the statement's
 * inclusive cost, zod's or Hono's work for it included. Samples outside every statement are charged
 * to the module their code sits in (line ticks of the bundle's top level tell library modules
 * apart), to workerd's built-in `node:*` modules (nodejs_compat), or to V8 itself ("(program)":
 * parsing/compiling; "(garbage collector)").
 *
 * Function and class expressions and literals are left unwrapped (a wrapper would change their
 * `.name` and they cost nothing), as are statements that `await` at top level. The wrapper adds a
 * function call per statement (sub-microsecond); the build is unminified, so its total runs a little
 * above the deployed (minified) bundle's, which bench/size.ts measures for the budget.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import ts from "typescript";
import { loadEsbuild, ROOT } from "./deps";
import { startupProfile } from "./startup";
import { median } from "./stats";
import { moduleLineIndex, type CpuProfile, type CpuProfileNode } from "./workerd";

export interface TopLevelStatement {
  /** Repo-relative source file. */
  file: string;
  /** 1-based line of the statement. */
  line: number;
  /** The statement's first line, shortened. */
  text: string;
}

const FRAME = /^__startup\$(\d+)$/;

/** Unwraps `(x)`, `x as T`, `x satisfies T`, `x!`. */
function core(expression: ts.Expression): ts.Expression {
  let current = expression;
  while (ts.isParenthesizedExpression(current) || ts.isAsExpression(current) || ts.isSatisfiesExpression(current) || ts.isNonNullExpression(current)) current = current.expression;
  return current;
}

/** Values that cost nothing to create and whose identity/name a wrapper would change. */
function leaveUnwrapped(expression: ts.Expression): boolean {
  const inner = core(expression);
  return (
    ts.isArrowFunction(inner) ||
    ts.isFunctionExpression(inner) ||
    ts.isClassExpression(inner) ||
    ts.isStringLiteral(inner) ||
    ts.isNumericLiteral(inner) ||
    ts.isNoSubstitutionTemplateLiteral(inner) ||
    ts.isRegularExpressionLiteral(inner) ||
    inner.kind === ts.SyntaxKind.TrueKeyword ||
    inner.kind === ts.SyntaxKind.FalseKeyword ||
    inner.kind === ts.SyntaxKind.NullKeyword ||
    ts.isIdentifier(inner)
  );
}

/** Whether `node` awaits at its own level (a top-level await; awaits inside nested functions do not count). */
function awaitsAtTopLevel(node: ts.Node): boolean {
  if (ts.isAwaitExpression(node) || (ts.isForOfStatement(node) && node.awaitModifier !== undefined)) return true;
  if (ts.isFunctionLike(node) || ts.isClassLike(node)) return false;
  return ts.forEachChild(node, awaitsAtTopLevel) ?? false;
}

function firstLine(text: string): string {
  const line = (text.split("\n")[0] ?? "").trim();
  return line.length > 90 ? `${line.slice(0, 87)}…` : line;
}

/**
 * `source` with each measurable top-level statement wrapped in a `__startup$<id>` function;
 * `register` hands out the ids. Line numbers do not change (no newline is inserted).
 */
export function instrumentTopLevel(source: string, file: string, register: (statement: TopLevelStatement) => number): string {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const edits: Array<{ at: number; text: string }> = [];
  const lineOf = (node: ts.Node): number => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
  const wrapExpression = (expression: ts.Expression, statement: ts.Node): void => {
    if (leaveUnwrapped(expression) || awaitsAtTopLevel(expression)) return;
    const id = register({ file, line: lineOf(statement), text: firstLine(statement.getText(sf)) });
    edits.push({ at: expression.getStart(sf), text: `(function __startup$${id}() { return (` }, { at: expression.getEnd(), text: `); })()` });
  };
  for (const statement of sf.statements) {
    if (ts.isVariableStatement(statement)) {
      if (statement.modifiers?.some((modifier) => modifier.kind === ts.SyntaxKind.DeclareKeyword)) continue;
      for (const declaration of statement.declarationList.declarations) if (declaration.initializer) wrapExpression(declaration.initializer, statement);
    } else if (ts.isExportAssignment(statement)) {
      wrapExpression(statement.expression, statement);
    } else if (ts.isExpressionStatement(statement)) {
      if (ts.isStringLiteral(statement.expression) || awaitsAtTopLevel(statement)) continue;
      const id = register({ file, line: lineOf(statement), text: firstLine(statement.getText(sf)) });
      // The leading `;` keeps a previous statement without one from being called with our wrapper.
      edits.push({ at: statement.getStart(sf), text: `;(function __startup$${id}() { ` }, { at: statement.getEnd(), text: ` })();` });
    }
  }
  let out = source;
  for (const edit of edits.sort((a, b) => b.at - a.at)) out = out.slice(0, edit.at) + edit.text + out.slice(edit.at);
  return out;
}

export interface InstrumentedBuild {
  /** Directory holding `index.js` (what startupProfile imports). */
  dir: string;
  statements: Map<number, TopLevelStatement>;
  /** workerd built-in modules (`node:*`) and the src/ files that import them. */
  builtinImporters: Map<string, string[]>;
}

/** Bundles `entry` (default src/index.ts) like bench/lib/workerd.ts does, with every src/ module instrumented. */
export async function instrumentedBuild(entry = "src/index.ts"): Promise<InstrumentedBuild> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bench-startup-"));
  const srcDir = path.join(ROOT, "src") + path.sep;
  const statements = new Map<number, TopLevelStatement>();
  const result = await loadEsbuild().build({
    entryPoints: [path.resolve(ROOT, entry)],
    outfile: path.join(dir, "index.js"),
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    external: ["node:*", "cloudflare:*"],
    minify: false,
    metafile: true,
    logLevel: "warning",
    plugins: [
      {
        name: "startup-statement-frames",
        setup(build) {
          build.onLoad({ filter: /\.ts$/ }, (args) => {
            if (!args.path.startsWith(srcDir)) return undefined;
            const file = path.relative(ROOT, args.path);
            const contents = instrumentTopLevel(readFileSync(args.path, "utf8"), file, (statement) => {
              const id = statements.size + 1;
              statements.set(id, statement);
              return id;
            });
            return { contents, loader: "ts" };
          });
        },
      },
    ],
  });
  const builtinImporters = new Map<string, string[]>();
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const imported of input.imports) {
      if (!imported.path.startsWith("node:")) continue;
      builtinImporters.set(imported.path, [...new Set([...(builtinImporters.get(imported.path) ?? []), file])]);
    }
  }
  return { dir, statements, builtinImporters };
}

export interface StartupCost {
  /** `src/x.ts:12 export const Y = z.object({` · a module · `(program)` … */
  where: string;
  /** Median over the runs, ms. */
  ms: number;
}

export interface StartupAttribution {
  runs: number;
  /** Median total CPU of the instrumented import, ms. */
  totalMs: number;
  totalsMs: number[];
  /** Top-level statements of src/, inclusive cost, largest first. */
  statements: StartupCost[];
  /** The same summed per src/ file. */
  srcFiles: StartupCost[];
  /** Everything outside a src/ statement: library module init, workerd built-ins, V8. */
  outside: StartupCost[];
  /** Self time by module (library code run *for* the statements above included). */
  selfByModule: StartupCost[];
}

/** The label of a sample that is not inside any src/ statement. */
function outsideLabel(frame: CpuProfileNode["callFrame"], moduleAt: (line: number) => string, bundleUrl: (url: string) => boolean, line: number | null, builtinImporters: Map<string, string[]>): string {
  if (!frame.url) return frame.functionName || "(anonymous native)";
  if (frame.url.startsWith("node:") || frame.url.startsWith("node-internal:")) {
    const importers = builtinImporters.get(frame.url);
    return importers ? `${frame.url} (workerd built-in, imported by ${importers.join(", ")})` : `workerd built-ins (nodejs_compat: node-internal:* modules)`;
  }
  if (bundleUrl(frame.url)) return `${moduleAt(line ?? frame.lineNumber)} (module top level / code outside src/ statements)`;
  return "(startup harness: the dynamic import itself)";
}

/**
 * Profiles `runs` fresh isolates importing the instrumented build and charges every sample (see the
 * file comment). Medians per entry over the runs.
 */
export async function attributeStartup(runs: number, build?: InstrumentedBuild): Promise<StartupAttribution> {
  const instrumented = build ?? (await instrumentedBuild());
  const bundlePath = path.join(instrumented.dir, "index.js");
  const moduleAt = moduleLineIndex(readFileSync(bundlePath, "utf8"));
  const bundleUrl = (url: string): boolean => url.endsWith("/index.js") || url.endsWith("index.js");
  const perRun = { statements: [] as Array<Map<string, number>>, srcFiles: [] as Array<Map<string, number>>, outside: [] as Array<Map<string, number>>, self: [] as Array<Map<string, number>> };
  const totals: number[] = [];
  for (let run = 0; run < runs; run++) {
    const { profile } = await startupProfile(instrumented.dir, ["index.js"]);
    const charged = charge(profile, instrumented, moduleAt, bundleUrl);
    totals.push(charged.totalUs / 1000);
    perRun.statements.push(charged.statements);
    perRun.srcFiles.push(charged.srcFiles);
    perRun.outside.push(charged.outside);
    perRun.self.push(charged.self);
  }
  const medians = (maps: Array<Map<string, number>>): StartupCost[] => {
    const keys = new Set(maps.flatMap((map) => [...map.keys()]));
    return [...keys].map((where) => ({ where, ms: median(maps.map((map) => (map.get(where) ?? 0) / 1000)) })).sort((a, b) => b.ms - a.ms);
  };
  return {
    runs,
    totalMs: median(totals),
    totalsMs: totals,
    statements: medians(perRun.statements),
    srcFiles: medians(perRun.srcFiles),
    outside: medians(perRun.outside),
    selfByModule: medians(perRun.self),
  };
}

function charge(
  profile: CpuProfile,
  build: InstrumentedBuild,
  moduleAt: (line: number) => string,
  bundleUrl: (url: string) => boolean,
): { totalUs: number; statements: Map<string, number>; srcFiles: Map<string, number>; outside: Map<string, number>; self: Map<string, number> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const statementOf = new Map<number, number | null>();
  const enclosingStatement = (nodeId: number): number | null => {
    const known = statementOf.get(nodeId);
    if (known !== undefined) return known;
    const match = FRAME.exec(byId.get(nodeId)?.callFrame.functionName ?? "");
    const parent = parentOf.get(nodeId);
    const found = match ? Number(match[1]) : parent === undefined ? null : enclosingStatement(parent);
    statementOf.set(nodeId, found);
    return found;
  };
  const nodeSelfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((nodeId, index) => {
    const node = byId.get(nodeId);
    const dt = profile.timeDeltas[index + 1] ?? 0;
    if (!node || node.callFrame.functionName === "(idle)") return;
    totalUs += dt;
    nodeSelfUs.set(nodeId, (nodeSelfUs.get(nodeId) ?? 0) + dt);
  });
  const statements = new Map<string, number>();
  const srcFiles = new Map<string, number>();
  const outside = new Map<string, number>();
  const self = new Map<string, number>();
  const add = (map: Map<string, number>, key: string, us: number): void => {
    map.set(key, (map.get(key) ?? 0) + us);
  };
  for (const [nodeId, us] of nodeSelfUs) {
    const node = byId.get(nodeId) as CpuProfileNode;
    const frame = node.callFrame;
    // A bundle frame's self time split by the lines it was sampled on (its top level holds every module's).
    const ticks = bundleUrl(frame.url) && node.positionTicks && node.positionTicks.length > 0 ? node.positionTicks : null;
    const tickTotal = ticks ? ticks.reduce((sum, tick) => sum + tick.ticks, 0) : 0;
    const parts: Array<{ line: number | null; us: number }> = ticks ? ticks.map((tick) => ({ line: tick.line - 1, us: (us * tick.ticks) / tickTotal })) : [{ line: null, us }];
    const statementId = enclosingStatement(nodeId);
    for (const part of parts) {
      const module = frame.url ? (bundleUrl(frame.url) ? moduleAt(part.line ?? frame.lineNumber) : frame.url) : frame.functionName || "(native)";
      add(self, module, part.us);
      if (statementId !== null) {
        const statement = build.statements.get(statementId);
        if (!statement) continue;
        add(statements, `${statement.file}:${statement.line}  ${statement.text}`, part.us);
        add(srcFiles, statement.file, part.us);
      } else {
        add(outside, outsideLabel(frame, moduleAt, bundleUrl, part.line, build.builtinImporters), part.us);
      }
    }
  }
  return { totalUs, statements, srcFiles, outside, self };
}
