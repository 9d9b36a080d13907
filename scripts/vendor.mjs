// Copies the ES module builds the browser needs from node_modules into
// static/vendor/, so the editor site can serve static/ as one directory.
// Run by `npm ci` (postinstall); static/vendor/ is not committed.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vendor = join(root, 'static', 'vendor');
const files = [
  ['node_modules/@dmsnell/diff-match-patch/index.js', 'diff-match-patch.mjs'],
];

mkdirSync(vendor, { recursive: true });
for (const [source, target] of files) {
  copyFileSync(join(root, source), join(vendor, target));
}
