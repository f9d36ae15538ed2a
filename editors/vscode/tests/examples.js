// Highlights every example and stdlib module of the repository with the
// grammar and checks what must hold whatever the programs say (so a new or
// edited example needs no test update):
// - a line starting with `//` is a comment from end to end (`///` a doc one);
// - a declaration's keyword and name get their scopes (`fn linear`,
//   `model Mlp`, `dataset digits`, `train run`);
// - every number literal is a number, every string a string;
// - nothing stays unscoped but names, spaces and brackets.
const fs = require("fs");
const path = require("path");
const textmate = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const here = __dirname;
const root = path.join(here, "..", "..", "..");
const wasm = fs.readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm")).buffer;

async function main() {
  await oniguruma.loadWASM(wasm);
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (sources) => new oniguruma.OnigScanner(sources),
      createOnigString: (text) => new oniguruma.OnigString(text),
    }),
    loadGrammar: async () =>
      textmate.parseRawGrammar(
        fs.readFileSync(path.join(here, "..", "syntaxes", "dlp.tmLanguage.json"), "utf8"),
        "dlp.tmLanguage.json"
      ),
  });
  const grammar = await registry.loadGrammar("source.dlp");
  const files = ["examples", "stdlib"].flatMap((dir) =>
    fs.readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith(".dlp"))
      .map((f) => path.join(dir, f))
  );
  let failures = 0;
  let checked = 0;
  for (const file of files) {
    const lines = fs.readFileSync(path.join(root, file), "utf8").split("\n");
    let stack = textmate.INITIAL;
    lines.forEach((line, i) => {
      const result = grammar.tokenizeLine(line, stack);
      stack = result.ruleStack;
      const tokens = result.tokens.map((t) => ({
        text: line.slice(t.startIndex, t.endIndex),
        start: t.startIndex,
        scopes: t.scopes.join(" "),
      }));
      const fail = (what) => {
        failures++;
        console.log(`✖ ${file}:${i + 1}: ${what}\n    ${line}`);
      };
      const scopeAt = (col) => (tokens.find((t) => t.start <= col && col < t.start + t.text.length) || {}).scopes || "";
      const trimmed = line.trimStart();
      const indent = line.length - trimmed.length;
      if (trimmed.startsWith("//")) {
        const want = /^\/\/\/(?!\/)/.test(trimmed) ? "comment.line.documentation" : "comment.line";
        if (!tokens.filter((t) => t.start >= indent).every((t) => t.scopes.includes(want))) fail(`not all ${want}`);
        return;
      }
      const decl = /^(?:extern\s+)?(fn|model|dataset|train)\s+([A-Za-z_]\w*)/.exec(trimmed);
      if (decl && indent === 0) {
        const kw = line.indexOf(decl[1]);
        const name = line.indexOf(decl[2], kw + decl[1].length);
        if (!scopeAt(kw).includes("keyword.declaration")) fail(`\`${decl[1]}\` is not a declaration keyword`);
        if (!scopeAt(name).includes("entity.name")) fail(`\`${decl[2]}\` is not a declared name`);
      }
      const code = line.replace(/\/\/.*$/, "");
      for (const m of code.matchAll(/"(?:[^"\\]|\\.)*"/g)) {
        if (!scopeAt(m.index).includes("string.quoted")) fail(`${m[0]} is not a string`);
      }
      const withoutStrings = code.replace(/"(?:[^"\\]|\\.)*"/g, (s) => " ".repeat(s.length));
      for (const m of withoutStrings.matchAll(/(?<![\w.])\d[\d_]*(?:\.\d+)?(?:[eE][+-]?\d+)?(?!\w)/g)) {
        if (!scopeAt(m.index).includes("constant.numeric")) fail(`${m[0]} is not a number`);
      }
      for (const t of tokens) {
        if (t.scopes === "source.dlp" && !/^[\sA-Za-z0-9_(){}\[\]]*$/.test(t.text)) {
          fail(`\`${t.text}\` has no scope`);
        }
      }
      checked++;
    });
  }
  console.log(`${files.length} files, ${checked} lines checked`);
  if (failures > 0) {
    console.log(`${failures} problems`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
