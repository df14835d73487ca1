#!/usr/bin/env node
// Bundle budget: measures what the first screen loads and the largest lazily loaded chunk of
// the production build (dist/), gzipped at level 9, and fails when either is over the budget
// in bundle-budget.json. Plain Node, no dependencies; run after `npm run build`:
//
//   node scripts/bundle-budget.mjs [dist directory]      (default: dist next to this folder)
//
// First screen = the entry script of index.html, its modulepreload links and stylesheets, and
// (to be safe if the preload list ever changes) every chunk those scripts import statically.
// Every other .js/.css file under assets/ is a lazy chunk. KB = 1000 bytes, as Vite prints.

import { existsSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const webDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const distDir = resolve(process.argv[2] ?? join(webDir, "dist"));
const budgetFile = join(webDir, "bundle-budget.json");

function fail(message, code = 1) {
  console.error(`bundle-budget: ${message}`);
  process.exit(code);
}

function readBudget() {
  let budget;
  try {
    budget = JSON.parse(readFileSync(budgetFile, "utf8"));
  } catch (err) {
    fail(`cannot read ${relative(process.cwd(), budgetFile)}: ${err instanceof Error ? err.message : String(err)}`, 2);
  }
  for (const key of ["firstScreenGzipKB", "lazyChunkGzipKB"]) {
    if (typeof budget[key] !== "number" || !(budget[key] > 0)) {
      fail(`${relative(process.cwd(), budgetFile)}: "${key}" must be a positive number of KB`, 2);
    }
  }
  return budget;
}

/** Attribute values of the tags named `tag` in `html` that satisfy `keep`. */
function tagAttrs(html, tag) {
  const out = [];
  for (const m of html.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, "gi"))) {
    const attrs = {};
    for (const a of m[1].matchAll(/([\w:-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g)) {
      attrs[a[1].toLowerCase()] = a[2] ?? a[3] ?? a[4] ?? "";
    }
    out.push(attrs);
  }
  return out;
}

/** A path of index.html ("/assets/x.js", "./assets/x.js", "assets/x.js") as a path under dist, or null for other origins. */
function distPath(url) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith("//")) return null;
  const clean = url.split(/[?#]/)[0];
  return posix.normalize(clean.replace(/^\.?\//, ""));
}

/** Chunks a built ES module imports statically: `import"./x.js"`, `import{a}from"./x.js"`, `export*from"./x.js"`. */
function staticImports(file) {
  const code = readFileSync(join(distDir, file), "utf8");
  const found = new Set();
  for (const m of code.matchAll(/(?:\bimport|\bfrom|\bexport\s*\*\s*from)\s*["'](\.{1,2}\/[^"']+\.js)["']/g)) {
    found.add(posix.normalize(posix.join(posix.dirname(file), m[1])));
  }
  return found;
}

const kb = (bytes) => bytes / 1000;
const fmt = (bytes) => kb(bytes).toFixed(2).padStart(9);

function measure(file) {
  const raw = readFileSync(join(distDir, file));
  return { file, raw: raw.length, gzip: gzipSync(raw, { level: 9 }).length };
}

const budget = readBudget();
const indexPath = join(distDir, "index.html");
if (!existsSync(indexPath)) fail(`${relative(process.cwd(), indexPath)} not found: run \`npm run build\` first`, 2);
const html = readFileSync(indexPath, "utf8");

const firstScreen = new Set();
const add = (url) => {
  const p = url ? distPath(url) : null;
  if (p === null) return;
  if (!existsSync(join(distDir, p))) fail(`index.html refers to ${url}, which is not in ${relative(process.cwd(), distDir) || "."}`, 2);
  firstScreen.add(p);
};
for (const s of tagAttrs(html, "script")) if (s.src) add(s.src);
for (const l of tagAttrs(html, "link")) {
  const rel = (l.rel ?? "").toLowerCase().split(/\s+/);
  if (rel.includes("modulepreload") || rel.includes("stylesheet")) add(l.href);
}
if (![...firstScreen].some((f) => f.endsWith(".js"))) fail("index.html loads no script: is this a Vite build?", 2);
// Static imports of the first screen's scripts load with it, preloaded or not.
const queue = [...firstScreen].filter((f) => f.endsWith(".js"));
while (queue.length > 0) {
  for (const dep of staticImports(queue.pop())) {
    if (!firstScreen.has(dep) && existsSync(join(distDir, dep))) {
      firstScreen.add(dep);
      queue.push(dep);
    }
  }
}

const assetsDir = join(distDir, "assets");
const all = existsSync(assetsDir)
  ? readdirSync(assetsDir, { recursive: true })
      .map((f) => posix.join("assets", String(f).split("\\").join("/")))
      .filter((f) => /\.(js|mjs|css)$/.test(f))
  : [];
const first = [...firstScreen].map(measure).sort((a, b) => b.gzip - a.gzip);
const lazy = all.filter((f) => !firstScreen.has(f)).map(measure).sort((a, b) => b.gzip - a.gzip);

const width = Math.max(24, ...[...first, ...lazy].map((r) => r.file.length));
const line = (label, raw, gzip) => `${label.padEnd(width)} ${raw} ${gzip}`;
console.log(line("file", "   raw KB", "  gzip KB"));
console.log(line("-- first screen --", "", ""));
for (const r of first) console.log(line(r.file, fmt(r.raw), fmt(r.gzip)));
const total = first.reduce((t, r) => ({ raw: t.raw + r.raw, gzip: t.gzip + r.gzip }), { raw: 0, gzip: 0 });
console.log(line("first screen total", fmt(total.raw), fmt(total.gzip)));
console.log(line(`-- lazy (${lazy.length}) --`, "", ""));
for (const r of lazy) console.log(line(r.file, fmt(r.raw), fmt(r.gzip)));
const largest = lazy[0];

console.log("");
console.log(`first screen: ${kb(total.gzip).toFixed(2)} KB gzip (budget ${budget.firstScreenGzipKB} KB)`);
console.log(
  largest
    ? `largest lazy chunk: ${largest.file} ${kb(largest.gzip).toFixed(2)} KB gzip (budget ${budget.lazyChunkGzipKB} KB)`
    : "no lazy chunks",
);

const problems = [];
if (kb(total.gzip) > budget.firstScreenGzipKB) {
  problems.push(
    `the first screen is ${kb(total.gzip).toFixed(2)} KB gzipped, over its budget of ${budget.firstScreenGzipKB} KB ` +
      `by ${(kb(total.gzip) - budget.firstScreenGzipKB).toFixed(2)} KB`,
  );
}
for (const r of lazy) {
  if (kb(r.gzip) > budget.lazyChunkGzipKB) {
    problems.push(`lazy chunk ${r.file} is ${kb(r.gzip).toFixed(2)} KB gzipped, over its budget of ${budget.lazyChunkGzipKB} KB`);
  }
}
if (problems.length > 0) {
  console.error("");
  for (const p of problems) console.error(`bundle-budget: FAILED: ${p}`);
  console.error(
    "bundle-budget: make the code smaller or lazy-load it (a page, a dialog, a heavy library); raise the budget in " +
      "web/bundle-budget.json only on purpose, in its own commit.",
  );
  process.exit(1);
}
console.log("bundle-budget: OK");
