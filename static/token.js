// The page's access token (docs/security.md, "Browser pages"): read from the
// URL fragment (`#token=...`), which browsers never send to a server, and
// its claims read without checking the signature (only the server can check
// it; the page uses the claims to show what the token allows, nothing more).

/** The token in a URL fragment such as `#token=...` (also `#a=1&token=...`), or null. */
export function fragmentToken(hash) {
  const fields = new URLSearchParams(String(hash ?? '').replace(/^#/, ''));
  return fields.get('token') || null;
}

/** The text of a base64url segment, or null when it is not one. */
function base64UrlText(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment)) return null;
  const padded = segment.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (segment.length % 4)) % 4);
  try {
    const bytes = Uint8Array.from(atob(padded), (character) => character.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The claims of a JWT (its middle part), unverified; null when it is not a JWT. */
export function tokenClaims(token) {
  const parts = String(token ?? '').split('.');
  if (parts.length !== 3) return null;
  const text = base64UrlText(parts[1]);
  if (text === null) return null;
  try {
    const claims = JSON.parse(text);
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? claims : null;
  } catch {
    return null;
  }
}

function list(claims, name) {
  const value = claims?.[name];
  return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
}

/** True when claims grant right (`read`, `write`, `delete`, `share`, `admin`). */
export function hasRight(claims, right) {
  return list(claims, 'rights').includes(right);
}

/** True when claims name document `name` (exactly or by a prefix). */
export function covers(claims, name) {
  return list(claims, 'docs').includes(name) || list(claims, 'prefixes').some((prefix) => name.startsWith(prefix));
}

/** The page address that opens document `name` with `token`, beside `base`. */
export function tokenLink(base, name, token) {
  const url = new URL(base);
  url.search = new URLSearchParams({ doc: name }).toString();
  url.hash = new URLSearchParams({ token }).toString();
  return url.href;
}
