// The form demo: form.html?doc=NAME shares every field of the form as
// document NAME_<field id> (NAME defaults to "form").
import { mobwrite, startDemo } from './page.js';

const counter = document.getElementById('counter');
const counterValue = document.getElementById('counter-value');

function renderCounter() {
  counterValue.textContent = counter.value;
}

document.getElementById('counter-increment').addEventListener('click', () => {
  counter.value = String((Number(counter.value) || 0) + 1);
  renderCounter();
  mobwrite.syncNow();
});

// A hidden field gets no change event on remote updates (docs/protocol.md §11.9): poll it.
setInterval(renderCounter, 250);
await startDemo('form', document.getElementById('demo'), 'demo');
