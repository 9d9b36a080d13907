// Starts a page's own script, named by the tag that loads this module:
//   <script type="module" src="loader.js" data-page="editor.js"></script>
// A static import that fails (a 404 anywhere in the module graph) leaves a
// page blank with nothing but a console line; loading the page's script
// with import() lets us catch that and say in the page what is missing.

// The diff library every page needs; copied here by `npm ci`, so an
// install built without npm lacks it.
const VENDORED = 'vendor/diff-match-patch.mjs';

/** Whether the server answers "not found" for the vendored diff library. */
async function vendoredMissing() {
  try {
    const answer = await fetch(new URL(VENDORED, import.meta.url), { method: 'HEAD', cache: 'no-store' });
    return answer.status === 404;
  } catch {
    return false; // the server is unreachable: nothing to say about its files
  }
}

/** The sentence shown when the page's script could not be loaded. */
async function explain(error) {
  if (await vendoredMissing()) {
    return `This page cannot start: the server has no ${VENDORED}, the diff library ` +
      'the pages need. The installed package was built without running "npm ci". ' +
      'Build a complete package with "make dist" (see docs/packaging.md) and install that.';
  }
  return `This page cannot start: its scripts failed to load (${error.message}). ` +
    'Reload the page; if this stays, the server\'s files are incomplete.';
}

/** Replace the page's content with message, shown as an alert. */
function showFailure(message) {
  for (const content of document.querySelectorAll('main')) content.hidden = true;
  const state = document.getElementById('state');
  if (state) state.hidden = true;
  const notice = document.createElement('main');
  notice.id = 'load-error';
  notice.className = 'narrow';
  const text = document.createElement('p');
  text.className = 'error';
  text.setAttribute('role', 'alert');
  text.textContent = message;
  notice.append(text);
  document.body.append(notice);
}

const page = document.querySelector('script[data-page]').dataset.page;
try {
  await import(new URL(page, import.meta.url).href);
} catch (error) {
  console.error(error);
  showFailure(await explain(error));
}
