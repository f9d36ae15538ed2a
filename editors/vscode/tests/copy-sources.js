// Copies the repository's examples and stdlib into tests/snap/ (the copies
// are not committed; their highlighting snapshots, *.dlp.snap, are), so the
// snapshot test always highlights the current sources. A new source gets a
// new snapshot; a changed one shows its highlighting diff: review it, then
// `npm run update-snapshots`.
const fs = require("fs");
const path = require("path");

const root = path.join(__dirname, "..", "..", "..");
const snap = path.join(__dirname, "snap");
fs.mkdirSync(snap, { recursive: true });
for (const [folder, prefix] of [["examples", "examples-"], ["stdlib", "std-"]]) {
  for (const name of fs.readdirSync(path.join(root, folder))) {
    if (name.endsWith(".dlp")) {
      fs.copyFileSync(path.join(root, folder, name), path.join(snap, prefix + name));
    }
  }
}
