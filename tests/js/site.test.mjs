// The service worker keeps every file the pages load (issue 14).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

const STATIC = new URL('../../static/', import.meta.url);

test('sw.js keeps every page, module and style of static/, and the vendored library', () => {
  const worker = readFileSync(new URL('sw.js', STATIC), 'utf8');
  const files = readdirSync(STATIC).filter((name) => /\.(html|js|css)$/.test(name) && name !== 'sw.js');
  files.push('vendor/diff-match-patch.mjs');
  const missing = files.filter((name) => !worker.includes(`'${name}'`));
  assert.deepEqual(missing, []);
});
