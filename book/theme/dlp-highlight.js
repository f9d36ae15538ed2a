// Syntax highlighting of ```dlp blocks in the rendered book: a
// highlight.js (10.x, as mdbook bundles) definition of dlp, registered
// after mdbook's own highlighting ran, then applied to the dlp blocks.
// It follows the VS Code grammar (editors/vscode/syntaxes/dlp.tmLanguage.json).
(function () {
  if (typeof hljs === "undefined") {
    return;
  }
  hljs.registerLanguage("dlp", function (hljs) {
    var IDENT = "[A-Za-z_][A-Za-z0-9_]*";
    return {
      name: "dlp",
      keywords: {
        keyword:
          "use extern param state update input output repeat as where",
        literal: "true false",
        type: "f32 f64 i32 i64 u8 bool class int float",
      },
      contains: [
        hljs.COMMENT("///", "$", { className: "doctag" }),
        hljs.C_LINE_COMMENT_MODE,
        hljs.QUOTE_STRING_MODE,
        {
          // A declaration and its name: `model Mlp`, `fn linear`,
          // `dataset digits`, `train digits_mlp` (not a record's `train:`).
          className: "keyword",
          begin: "\\b(?:model|fn|dataset|train)(?=\\s+" + IDENT + ")",
          starts: { className: "title", end: IDENT, relevance: 0 },
        },
        {
          className: "number",
          begin: "\\b\\d[\\d_]*(?:\\.\\d[\\d_]*)?(?:[eE][+-]?\\d+)?\\b",
          relevance: 0,
        },
        {
          // A call: `relu(`, `linear(`.
          className: "built_in",
          begin: IDENT + "(?=\\s*\\()",
          relevance: 0,
        },
      ],
    };
  });
  document.querySelectorAll("code.language-dlp").forEach(function (block) {
    // mdbook highlighted it already as plain text: start from the text.
    block.textContent = block.textContent;
    block.classList.remove("hljs");
    hljs.highlightBlock(block);
  });
})();
