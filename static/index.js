// The start page: open or create a document by name.
import { nameProblem, showProblem } from './page.js';

const form = document.getElementById('open-form');
const input = document.getElementById('doc-name');
const error = document.getElementById('name-error');

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = input.value.trim();
  const problem = nameProblem(name);
  if (problem) {
    input.setAttribute('aria-invalid', 'true');
    showProblem(error, problem);
    input.focus();
    return;
  }
  location.assign(`editor.html?doc=${encodeURIComponent(name)}`);
});

input.addEventListener('input', () => {
  input.removeAttribute('aria-invalid');
  error.hidden = true;
});
