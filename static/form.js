// The form demo: form.html?doc=NAME shares every field of the form as
// document NAME_<field id> (NAME defaults to "form").
import { connect, documentName, mobwrite, nameProblem, showProblem, showState } from './page.js';

const name = documentName('form');
const problem = nameProblem(name);
const counter = document.getElementById('counter');
const counterValue = document.getElementById('counter-value');

// A hidden field gets no change event on remote updates (10.9): watch it.
function renderCounter() {
  counterValue.textContent = counter.value;
}

document.getElementById('counter-increment').addEventListener('click', () => {
  counter.value = String((Number(counter.value) || 0) + 1);
  renderCounter();
  mobwrite.syncNow();
});

if (problem) {
  showProblem(document.getElementById('name-error'), `"${name}" is not a document name. ${problem}`);
  document.getElementById('demo').hidden = true;
} else {
  document.getElementById('doc-label').textContent = name;
  showState(document.getElementById('state'));
  document.addEventListener('mobwrite:state', renderCounter);
  setInterval(renderCounter, 250);
  await connect();
  mobwrite.idPrefix = `${name}_`;
  mobwrite.share('demo');
}
