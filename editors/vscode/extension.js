// The dlp extension: starts `dlpc lsp` as the language server of every
// `.dlp` file. All the language smarts are in dlpc; this only connects.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("dlp").get("server.path", "dlpc");
  const server = { command, args: ["lsp"] };
  client = new LanguageClient(
    "dlp",
    "dlp language server",
    { run: server, debug: server },
    { documentSelector: [{ language: "dlp" }] }
  );
  context.subscriptions.push(client);
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
