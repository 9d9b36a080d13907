// The editor page: editor.html?doc=NAME#token=... shares a title (document
// NAME_title) and a large text (document NAME). A token without the write
// right shows them read-only; one with the share right offers a read-only link.
import { setUpHistory } from './history.js';
import { connect, documentName, mobwrite, nameProblem, refuseName, showState } from './page.js';
import { showPresence } from './people.js';
import { covers, hasRight, tokenClaims, tokenLink } from './token.js';

const name = documentName();
const problem = nameProblem(name);

/** The gateway's /share beside its sync path (docs/security.md). */
function shareUrl() {
  return new URL('/share', new URL(mobwrite.syncGateway, location.href)).href;
}

/** Ask the gateway for a read-only token; show the link to it and copy it to the clipboard. */
async function copyReadOnlyLink() {
  const note = document.getElementById('share-note');
  const field = document.getElementById('share-url');
  document.getElementById('share').hidden = false;
  let answer;
  try {
    const response = await fetch(shareUrl(), {
      method: 'POST', headers: { Authorization: `Bearer ${mobwrite.token}` }, cache: 'no-store',
    });
    answer = (await response.text()).trim();
    if (response.status !== 200) throw new Error(answer.split('\n')[0] || `the gateway answered ${response.status}`);
  } catch (error) {
    note.textContent = `No read-only link: ${error.message}`;
    field.value = '';
    return;
  }
  field.value = tokenLink(location.href, name, answer);
  try {
    await navigator.clipboard.writeText(field.value);
    note.textContent = 'Read-only link (copied)';
  } catch {
    note.textContent = 'Read-only link (copy it from here)';
    field.select();
  }
}

/** Show what the page's token allows: read-only fields and badge, the share button. */
function showRights(claims, title, text) {
  if (!claims) return;
  if (!hasRight(claims, 'write')) {
    title.readOnly = true;
    text.readOnly = true;
    document.getElementById('read-only').hidden = false;
  }
  if (hasRight(claims, 'share')) {
    const button = document.getElementById('share-link');
    button.hidden = false;
    button.addEventListener('click', copyReadOnlyLink);
  }
}

if (problem) {
  document.getElementById('problem').hidden = false;
  refuseName(document.getElementById('editor'),
    name ? `"${name}" is not a document name. ${problem}` : 'No document named: open editor.html?doc=NAME.');
} else {
  const title = document.getElementById('title');
  const text = document.getElementById('text');
  // The ids stay fixed; the document names on the wire are these.
  title.dataset.mobwriteName = `${name}_title`;
  text.dataset.mobwriteName = name;
  document.title = `${name} · mobwrite`;
  document.getElementById('doc-label').textContent = name;
  document.getElementById('editor').hidden = false;
  showState(document.getElementById('state'));
  await connect();
  const claims = tokenClaims(mobwrite.token);
  showRights(claims, title, text);
  // A token for NAME alone would have every request refused for NAME_title: leave the title out.
  if (claims && !covers(claims, title.dataset.mobwriteName)) {
    title.hidden = true;
    mobwrite.share(text);
  } else {
    mobwrite.share(title, text);
  }
  showPresence(mobwrite, {
    fields: [title, text].filter((field) => !field.hidden),
    nameInput: document.getElementById('presence-name'),
    colorInput: document.getElementById('presence-color'),
    list: document.getElementById('presence'),
    note: document.getElementById('presence-note'),
  });
  setUpHistory(document.getElementById('history-open'), name, text, document.getElementById('editor'));
  text.focus();
}
