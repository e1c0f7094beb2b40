import { readdir, readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One file of the page, held in memory. */
export interface Asset {
  readonly contentType: string;
  readonly body: Buffer;
  readonly etag: string;
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
};

/**
 * Where `npm run build` puts the page: dist/dashboard, beside dist/src (this
 * module runs from dist/src/dashboard/).
 */
export const BUILT_ASSETS_DIR = fileURLToPath(new URL("../../dashboard/", import.meta.url));

/**
 * Reads the page's files (.html, .css, .js at the top of `dir`) into memory
 * once, keyed by URL path; "/" is index.html. Only these are ever served, so
 * no request path reaches the file system. Throws when index.html or app.js is
 * missing (the page was not built).
 */
export async function loadAssets(dir: string): Promise<ReadonlyMap<string, Asset>> {
  const assets = new Map<string, Asset>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    throw new Error(`the dashboard page is not built (${dir} is unreadable); run "npm run build"`, { cause: error });
  }
  for (const name of names.sort()) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType === undefined) continue;
    const body = await readFile(join(dir, name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    assets.set(`/${name}`, { contentType, body, etag });
  }
  const index = assets.get("/index.html");
  if (index === undefined || !assets.has("/app.js")) {
    throw new Error(`the dashboard page is not built (no index.html or app.js in ${dir}); run "npm run build"`);
  }
  assets.set("/", index);
  return assets;
}
