// The page's token: read from the URL fragment, its claims read unverified (docs/security.md).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  covers, fragmentToken, hasRight, tokenClaims, tokenLink,
} from '../../static/token.js';

function base64Url(text) {
  return Buffer.from(text, 'utf-8').toString('base64url');
}

/** A token shaped as the daemon mints them; the signature is not checked here. */
function jwt(claims) {
  return `${base64Url('{"alg":"HS256","kid":"k1","typ":"JWT"}')}.${base64Url(JSON.stringify(claims))}.c2lnbmF0dXJl`;
}

const CLAIMS = {
  aud: 'mobwrite', sub: 'alice', iat: 1, exp: 2, docs: ['memo', 'memo_title'], prefixes: ['team-a/'], rights: ['read', 'share'],
};

test('the token comes from the fragment, alone or among other fields', () => {
  const token = jwt(CLAIMS);
  assert.equal(fragmentToken(`#token=${token}`), token);
  assert.equal(fragmentToken(`#view=plain&token=${token}&x=1`), token);
  assert.equal(fragmentToken(`token=${token}`), token);
  assert.equal(fragmentToken('#token=a%2Bb'), 'a+b');
});

test('a fragment without a token gives null', () => {
  for (const hash of ['', '#', '#token=', '#tokens=abc', '#section-2', undefined, null]) {
    assert.equal(fragmentToken(hash), null, String(hash));
  }
});

test('the claims of a token are read without its signature', () => {
  assert.deepEqual(tokenClaims(jwt(CLAIMS)), CLAIMS);
  const unicode = { ...CLAIMS, sub: 'zoë 漢字' };
  assert.deepEqual(tokenClaims(jwt(unicode)), unicode);
});

test('anything that is not a JWT with an object of claims gives null', () => {
  const [header, , signature] = jwt(CLAIMS).split('.');
  for (const token of [null, '', 'abc', 'a.b', 'a.b.c.d', `${header}.!!!.${signature}`,
    `${header}.${base64Url('not json')}.${signature}`, `${header}.${base64Url('[1,2]')}.${signature}`,
    `${header}.${base64Url('null')}.${signature}`, `${header}.${Buffer.from([0xff, 0xfe]).toString('base64url')}.${signature}`]) {
    assert.equal(tokenClaims(token), null, String(token));
  }
});

test('rights and documents are read from the claims; malformed lists grant nothing', () => {
  assert.equal(hasRight(CLAIMS, 'read'), true);
  assert.equal(hasRight(CLAIMS, 'share'), true);
  assert.equal(hasRight(CLAIMS, 'write'), false);
  assert.equal(covers(CLAIMS, 'memo'), true);
  assert.equal(covers(CLAIMS, 'memo_title'), true);
  assert.equal(covers(CLAIMS, 'memo2'), false);
  assert.equal(covers(CLAIMS, 'team-a/plan'), true);
  assert.equal(covers({ rights: 'write', docs: 'memo' }, 'memo'), false);
  assert.equal(hasRight({ rights: 'write' }, 'write'), false);
  assert.equal(hasRight(null, 'read'), false);
  assert.equal(covers({ prefixes: [''] }, 'anything'), true);
});

test('a token link opens the document with the token in the fragment only', () => {
  const link = tokenLink('http://127.0.0.1:8000/editor.html?doc=old#token=old', 'memo', 'a.b-c_d');
  assert.equal(link, 'http://127.0.0.1:8000/editor.html?doc=memo#token=a.b-c_d');
  const url = new URL(link);
  assert.equal(url.searchParams.get('token'), null);
  assert.equal(fragmentToken(url.hash), 'a.b-c_d');
});
