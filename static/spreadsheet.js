// The spreadsheet demo: spreadsheet.html?doc=NAME shares each cell, id A1
// to D8, as document NAME_<cell id> (NAME defaults to "sheet").
import { startDemo } from './page.js';

const COLUMNS = ['A', 'B', 'C', 'D'];
const ROWS = 8;

const head = document.getElementById('sheet-head');
const body = document.getElementById('sheet-body');
const totals = document.getElementById('sheet-totals');
const cells = [];

for (const column of COLUMNS) {
  const th = document.createElement('th');
  th.scope = 'col';
  th.textContent = column;
  head.append(th);
  const total = document.createElement('td');
  total.id = `sum_${column}`;
  total.className = 'total';
  totals.append(total);
}
for (let row = 1; row <= ROWS; row++) {
  const tr = document.createElement('tr');
  const th = document.createElement('th');
  th.scope = 'row';
  th.textContent = String(row);
  tr.append(th);
  for (const column of COLUMNS) {
    const td = document.createElement('td');
    const input = document.createElement('input');
    input.type = 'text';
    input.id = `${column}${row}`;
    input.autocomplete = 'off';
    input.setAttribute('aria-label', `Cell ${column}${row}`);
    td.append(input);
    tr.append(td);
    cells.push(input);
  }
  body.append(tr);
}

// Column sums, recomputed on local typing and on remote change events.
function renderTotals() {
  COLUMNS.forEach((column, index) => {
    let sum = 0;
    for (let row = 1; row <= ROWS; row++) {
      const value = Number(document.getElementById(`${column}${row}`).value.replace(/,/g, ''));
      if (Number.isFinite(value)) sum += value;
    }
    totals.cells[index + 1].textContent = String(sum);
  });
}
document.getElementById('sheet').addEventListener('input', renderTotals);
document.getElementById('sheet').addEventListener('change', renderTotals);
renderTotals();

await startDemo('sheet', document.getElementById('sheet'), ...cells);
