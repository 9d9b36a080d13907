// The editor page: editor.html?doc=NAME shares a title (document NAME_title)
// and a large text (document NAME).
import { connect, documentName, mobwrite, nameProblem, refuseName, showState } from './page.js';

const name = documentName();
const problem = nameProblem(name);

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
  mobwrite.share(title, text);
  text.focus();
}
