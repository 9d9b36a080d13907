// The start page: open or create a document by name.
import { nameProblem, showProblem } from './page.js';

const UNITS = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

/** `604800` → `7 days`: the largest unit that fits, rounded. */
function describeSeconds(seconds) {
  const [unit, size] = UNITS.find(([, size]) => seconds >= size) ?? UNITS[UNITS.length - 1];
  const count = Math.round(seconds / size);
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** Say when documents expire, if the daemon expires them (TIMEOUT_TEXT in /config.js). */
async function showExpiry() {
  let config = {};
  try {
    const module = await import('./config.js');
    config = module.default ?? module;
  } catch {
    return; // No config.js: a plain static server knows nothing of expiry.
  }
  if (!config.documentExpiry) return;
  document.getElementById('name-help').append(
    ` A document nobody opens or edits for ${describeSeconds(config.documentExpiry)}`
    + ' is deleted.');
}

showExpiry();

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
