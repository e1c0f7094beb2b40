import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, posix, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The layers, and which layers each may import (relative imports only; npm
 * packages are checked for the SDK alone, below):
 *
 *   wire ← core ← stores, transport, dashboard ← server (src/main.ts, config, pki …)
 *   wire ← client ← cli ← bin → server
 *   browser (dashboard/, the seat-map page's own code) stands alone
 *
 * gen/ is generated and not checked; test/ and bench/ may import anything.
 */
type Layer =
  | "core"
  | "stores"
  | "transport"
  | "dashboard"
  | "server"
  | "browser"
  | "wire"
  | "client"
  | "cli"
  | "bin"
  | "gen/booking"
  | "gen/google"
  | "gen/other"
  | "test"
  | "bench"
  | "outside";

const SERVER_SIDE: readonly Layer[] = ["core", "stores", "transport", "dashboard", "server"];
const GEN: readonly Layer[] = ["gen/booking", "gen/google", "gen/other"];

const ALLOWED: Readonly<Partial<Record<Layer, readonly Layer[]>>> = {
  // The booking rules know nothing of gRPC, protobuf or storage engines.
  core: ["core", "wire"],
  stores: ["stores", "core", "wire", ...GEN],
  transport: ["transport", "core", "wire", ...GEN],
  // The seat-map page's HTTP server reads the core only: no store, no gRPC, no client.
  dashboard: ["dashboard", "core"],
  // The server's entry: main, config, logger, defaults and the dev PKI.
  server: [...SERVER_SIDE, "wire", ...GEN],
  wire: ["wire", ...GEN],
  // Exactly what the @seat-booking/client package compiles besides itself.
  client: ["client", "wire", "gen/booking", "gen/google"],
  cli: ["cli", "client", "wire", ...GEN],
  // The one entry point: the only place where the server and the CLI meet.
  bin: ["bin", "cli", "client", ...SERVER_SIDE, "wire", ...GEN],
  // The page runs in a browser: nothing of the server, the SDK or the generated code.
  browser: ["browser"],
};

/**
 * npm packages a server layer must not import: the core knows nothing of
 * gRPC, protobuf or storage engines; the stores nothing of gRPC or protobuf.
 */
const FORBIDDEN_PACKAGES: Readonly<Partial<Record<Layer, readonly string[]>>> = {
  core: ["@grpc/", "@bufbuild/", "grpc-health-check", "pg", "better-sqlite3", "pino", "prom-client"],
  stores: ["@grpc/", "@bufbuild/", "grpc-health-check"],
  // node:http and pino (its logger) only.
  dashboard: ["@grpc/", "@bufbuild/", "grpc-health-check", "pg", "better-sqlite3", "better-sqlite3-13", "prom-client"],
};

/** The npm packages the SDK package may import at run time (besides node: built-ins). */
const SDK_PACKAGES = ["@grpc/grpc-js", "@bufbuild/protobuf"];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The layer of a path relative to the repository root, in POSIX form. */
function layerOf(path: string): Layer {
  const [top, second] = path.split("/");
  switch (top) {
    case "src":
      if (second === "core" || second === "stores" || second === "transport" || second === "dashboard") return second;
      return "server";
    case "dashboard":
      return "browser";
    case "wire":
    case "client":
    case "cli":
    case "bin":
    case "test":
    case "bench":
      return top;
    case "gen":
      return second === "booking" ? "gen/booking" : second === "google" ? "gen/google" : "gen/other";
    default:
      return "outside";
  }
}

/**
 * The layering faults of one file's relative imports: one sentence per import
 * that crosses a layer the wrong way, naming the file and the import.
 */
function layerViolations(file: string, specifiers: readonly string[]): string[] {
  const from = layerOf(file);
  const allowed = ALLOWED[from];
  if (allowed === undefined) return [];
  const faults: string[] = [];
  for (const specifier of specifiers) {
    if (!specifier.startsWith(".")) continue;
    const target = posix.normalize(posix.join(posix.dirname(file), specifier));
    const to = target.startsWith("../") ? "outside" : layerOf(target);
    if (!allowed.includes(to)) {
      faults.push(`${file} imports "${specifier}" (${to}): ${from} may import only ${allowed.join(", ")}`);
    }
  }
  return faults;
}

/** The npm packages a server-layer file imports that its layer must not know. */
function forbiddenPackages(file: string, specifiers: readonly string[]): string[] {
  const layer = layerOf(file);
  const forbidden = FORBIDDEN_PACKAGES[layer] ?? [];
  return specifiers
    .filter((specifier) =>
      forbidden.some((name) => (name.endsWith("/") ? specifier.startsWith(name) : specifier === name || specifier.startsWith(`${name}/`))),
    )
    .map((specifier) => `${file} imports the npm package "${specifier}": ${layer} may not use ${forbidden.join(", ")}`);
}

/** Any import of the page's code that is not a relative one: no npm package, no node: built-in, no CDN. */
function browserPackages(file: string, specifiers: readonly string[]): string[] {
  if (layerOf(file) !== "browser") return [];
  return specifiers
    .filter((specifier) => !specifier.startsWith("./"))
    .map((specifier) => `${file} imports "${specifier}": the seat-map page imports only its own files (./…)`);
}

/** The npm packages a file imports that the SDK may not depend on. */
function foreignPackages(file: string, specifiers: readonly string[]): string[] {
  const builtins = new Set(builtinModules);
  return specifiers
    .filter((specifier) => !specifier.startsWith("."))
    .filter((specifier) => !specifier.startsWith("node:") && !builtins.has(specifier))
    .filter((specifier) => !SDK_PACKAGES.some((name) => specifier === name || specifier.startsWith(`${name}/`)))
    .map((specifier) => `${file} imports the npm package "${specifier}": the SDK may use only ${SDK_PACKAGES.join(", ")} and node: built-ins`);
}

/**
 * Every module specifier a source file names: static imports and re-exports
 * (type-only ones too), dynamic `import("…")`, `import x = require("…")` and
 * `typeof import("…")` types. Comments and strings are not mistaken for imports.
 */
function importSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const literal = (node: ts.Node | undefined) => {
    if (node !== undefined && ts.isStringLiteralLike(node)) found.push(node.text);
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) literal(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      literal(node.moduleReference.expression);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument !== undefined && !ts.isStringLiteralLike(argument)) {
        found.push(`<computed: ${argument.getText(source)}>`);
      }
      literal(argument);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      literal(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every .ts file under `folder` (relative to the root), as POSIX paths. */
function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts"))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .filter((path) => !path.startsWith("client/dist/") && !path.includes("node_modules/"))
    .sort();
}

const checkedFiles = ["src", "wire", "client", "cli", "bin", "dashboard"].flatMap(sourceFiles);
const importsOf = new Map(checkedFiles.map((file) => [file, importSpecifiers(file, readFileSync(join(root, file), "utf8"))]));

describe("layers", () => {
  it("reads every layer's files and finds their imports", () => {
    const layers = new Set(checkedFiles.map(layerOf));
    for (const layer of ["core", "stores", "transport", "dashboard", "server", "wire", "client", "cli", "bin", "browser"] as const) {
      expect(layers, `no files found for ${layer}`).toContain(layer);
    }
    expect(importsOf.get("bin/booking.ts")).toEqual(
      expect.arrayContaining(["../cli/cli-commands.js", "../src/main.js", "../src/pki/dev-pki.js"]),
    );
  });

  it("rejects known-bad imports (the rule can fail)", () => {
    expect(layerViolations("src/core/booking-core.ts", ["../transport/booking-server.js"])).toEqual([
      'src/core/booking-core.ts imports "../transport/booking-server.js" (transport): core may import only core, wire',
    ]);
    expect(layerViolations("src/core/booking-core.ts", ["../../gen/booking/v1/booking_pb.js"])).toHaveLength(1);
    expect(layerViolations("src/stores/memory-store.ts", ["../transport/metrics.js"])).toHaveLength(1);
    expect(layerViolations("src/transport/booking-server.ts", ["../stores/memory-store.js"])).toHaveLength(1);
    expect(layerViolations("src/main.ts", ["../client/index.js"])).toHaveLength(1);
    expect(layerViolations("src/main.ts", ["../cli/cli-commands.js"])).toHaveLength(1);
    expect(layerViolations("client/booking-client.ts", ["../src/core/seat-rules.js"])).toHaveLength(1);
    expect(layerViolations("client/booking-client.ts", ["../gen/grpc/health/v1/health_pb.js"])).toHaveLength(1);
    expect(layerViolations("client/booking-client.ts", ["../cli/cli-output.js"])).toHaveLength(1);
    expect(layerViolations("cli/cli-commands.ts", ["../src/main.js"])).toHaveLength(1);
    expect(layerViolations("wire/wire-constants.ts", ["../src/core/seat-store.js"])).toHaveLength(1);
    expect(layerViolations("wire/wire-constants.ts", ["../client/index.js"])).toHaveLength(1);
    expect(layerViolations("src/core/seat-rules.ts", ["../../test/support/test-pki.js"])).toHaveLength(1);
    expect(layerViolations("client/index.ts", ["../../elsewhere/x.js"])).toHaveLength(1);
    for (const target of ["../stores/sqlite-store.js", "../transport/booking-server.js", "../../client/index.js", "../main.js", "../../dashboard/wire.js"]) {
      expect(layerViolations("src/dashboard/dashboard-server.ts", [target]), target).toHaveLength(1);
    }
    for (const target of ["../src/core/seat-rules.js", "../src/dashboard/dashboard-events.js", "../client/index.js", "../wire/wire-constants.js"]) {
      expect(layerViolations("dashboard/app.ts", [target]), target).toHaveLength(1);
    }
    expect(browserPackages("dashboard/app.ts", ["./seat-map.js", "node:http", "lit", "https://cdn.example/x.js"])).toHaveLength(3);
    expect(forbiddenPackages("src/dashboard/dashboard-server.ts", ["node:http", "pino", "@grpc/grpc-js", "better-sqlite3"])).toHaveLength(2);
    // And lets the right ones through.
    expect(layerViolations("src/transport/booking-server.ts", ["../core/booking-core.js", "../../wire/wire-constants.js"])).toEqual([]);
    expect(layerViolations("bin/booking.ts", ["../src/main.js", "../cli/cli-commands.js"])).toEqual([]);
    expect(layerViolations("src/dashboard/dashboard-server.ts", ["../core/booking-core.js", "./loopback-host.js"])).toEqual([]);
    expect(layerViolations("src/main.ts", ["./dashboard/dashboard-server.js"])).toEqual([]);
    expect(layerViolations("src/config.ts", ["./dashboard/loopback-host.js"])).toEqual([]);
    expect(layerViolations("dashboard/app.ts", ["./seat-map.js"])).toEqual([]);
    expect(layerViolations("test/x.test.ts", ["../src/main.js", "../client/index.js"])).toEqual([]);

    expect(forbiddenPackages("src/core/booking-core.ts", ["@grpc/grpc-js", "async-mutex", "node:crypto"])).toHaveLength(1);
    expect(forbiddenPackages("src/stores/pg.ts", ["pg", "@bufbuild/protobuf/wkt"])).toHaveLength(1);
    expect(forbiddenPackages("src/transport/x.ts", ["@grpc/grpc-js"])).toEqual([]);
    expect(foreignPackages("client/x.ts", ["pino", "@grpc/grpc-js", "@bufbuild/protobuf/wkt", "node:fs", "fs"])).toEqual([
      'client/x.ts imports the npm package "pino": the SDK may use only @grpc/grpc-js, @bufbuild/protobuf and node: built-ins',
    ]);
  });

  it("finds imports of every form, and none in comments or strings", () => {
    const text = [
      'import { a } from "./a.js";',
      'import type {\n  B,\n  C,\n} from "./b.js";',
      'import "./side-effect.js";',
      'export { d } from "./d.js";',
      'export * as e from "./e.js";',
      'const f = await import("./f.js");',
      'type G = typeof import("./g.js");',
      'import h = require("./h.js");',
      '// import { x } from "./comment.js";',
      '/** `import { y } from "@seat-booking/client"` */',
      'const text = \'from "./string.js"\';',
      "const lazy = (name: string) => import(name);",
    ].join("\n");
    expect(importSpecifiers("sample.ts", text)).toEqual([
      "./a.js",
      "./b.js",
      "./side-effect.js",
      "./d.js",
      "./e.js",
      "./f.js",
      "./g.js",
      "./h.js",
      "<computed: name>",
    ]);
  });

  it("has no import crossing a layer the wrong way", () => {
    const faults = checkedFiles.flatMap((file) => layerViolations(file, importsOf.get(file) ?? []));
    expect(faults).toEqual([]);
  });

  it("keeps gRPC, protobuf and storage engines out of the core, and gRPC and protobuf out of the stores", () => {
    const faults = checkedFiles.flatMap((file) => forbiddenPackages(file, importsOf.get(file) ?? []));
    expect(faults).toEqual([]);
  });

  it("keeps the seat-map page's code to its own files: no server code, no npm package, no CDN", () => {
    const faults = checkedFiles.flatMap((file) => browserPackages(file, importsOf.get(file) ?? []));
    expect(faults).toEqual([]);
  });

  it("has no dynamic import whose target cannot be read", () => {
    const computed = checkedFiles.flatMap((file) =>
      (importsOf.get(file) ?? []).filter((specifier) => specifier.startsWith("<computed")).map((specifier) => `${file}: ${specifier}`),
    );
    expect(computed).toEqual([]);
  });

  it("keeps the SDK package to grpc-js, protobuf-es and node: built-ins, in its code and its package.json", () => {
    // The package compiles client/ plus these (client/tsconfig.json); all of it ships.
    const tsconfig = JSON.parse(readFileSync(join(root, "client/tsconfig.json"), "utf8").replace(/^\s*\/\/.*$/gm, "")) as {
      include: string[];
    };
    expect(tsconfig.include).toEqual(["*.ts", "../wire/*.ts", "../gen/booking/**/*.ts", "../gen/google/**/*.ts"]);
    const shipped = [...checkedFiles.filter((file) => layerOf(file) === "client" || layerOf(file) === "wire"), ...sourceFiles("gen/booking"), ...sourceFiles("gen/google")];
    const faults = shipped.flatMap((file) => foreignPackages(file, importSpecifiers(file, readFileSync(join(root, file), "utf8"))));
    expect(faults).toEqual([]);

    const manifest = JSON.parse(readFileSync(join(root, "client/package.json"), "utf8")) as Record<string, unknown>;
    expect(Object.keys((manifest["dependencies"] ?? {}) as object).sort()).toEqual([...SDK_PACKAGES].sort());
    expect(manifest["peerDependencies"] ?? {}).toEqual({});
    expect(manifest["optionalDependencies"] ?? {}).toEqual({});
  });
});
