// The OAuth callback page's error box (playground/connect-callback.html),
// without a browser: runs the page's inline script in a Node vm with a
// stand-in document, history and fetch, and checks what it shows for the
// server's answers to /connect/{provider}/finish. Exits 1 on a failed
// check. Not part of `cargo test`.
//
//   node tests/browser/connect_callback_error.mjs

import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const html = readFileSync(new URL('../../playground/connect-callback.html', import.meta.url), 'utf8');
const script = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');

// Runs the page against one answer of /finish; returns the error box.
async function show(status, body) {
  const els = {};
  for (const id of ['sy-title', 'sy-lead', 'sy-error']) els[id] = { textContent: '', hidden: id === 'sy-error' };
  const ctx = {
    URLSearchParams,
    setTimeout: () => {},
    document: { getElementById: (id) => els[id] },
    window: {
      location: { search: '?code=c&state=s', pathname: '/connect/instagram/callback', replace: () => {} },
      history: { replaceState: () => {} },
    },
    fetch: async () => ({ ok: status < 300, status, json: async () => body }),
  };
  vm.runInNewContext(script, ctx);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  return els['sy-error'];
}

let failed = 0;
function check(ok, what) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what);
  if (!ok) failed += 1;
}

const one = await show(400, {
  success: false, error: 'Validation failed', code: 'INVALID_REQUEST',
  details: [{ field: 'provider', error: 'Only one Instagram connection is allowed per workspace' }],
});
check(!one.hidden && one.textContent === 'Only one Instagram connection is allowed per workspace',
  'a field error shows its first detail: ' + JSON.stringify(one.textContent));
const plain = await show(400, { success: false, error: 'The sign-in expired', code: 'INVALID_REQUEST' });
check(plain.textContent === 'The sign-in expired', 'an error without details shows its message');
const bare = await show(502, {});
check(bare.textContent === 'The server answered 502.', 'an answer without a body says the status');
process.exit(failed ? 1 : 0);
