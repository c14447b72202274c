"""Proves oauth1_server.py with oauthlib's own Client (no signet): 200 for good signatures, 401 for forgeries.

Usage: oauth1_selftest.py PORT   (the server must already listen on 127.0.0.1:PORT)
"""
import json, pathlib, sys, time, urllib.request, urllib.error
from oauthlib import oauth1

PORT = int(sys.argv[1])
key = json.load(open(pathlib.Path(__file__).resolve().parents[1] / 'vectors/oauth1/oauth1-vectors.json'))['rsa_sha1_cases'][0]['private_key_pkcs8_pem']
BASE = f'http://127.0.0.1:{PORT}'

def send(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode().strip()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode().strip()

def client(sm, st=oauth1.SIGNATURE_TYPE_AUTH_HEADER, **kw):
    args = dict(client_key='signet-consumer', client_secret='consumer-secret', resource_owner_key='signet-token',
                resource_owner_secret='token-secret', signature_method=sm, signature_type=st)
    if sm.startswith('RSA'):
        args.update(rsa_key=key, client_secret=None, resource_owner_secret=None)
    args.update(kw)
    return oauth1.Client(**args)

fails = 0
def expect(label, want, got):
    global fails
    ok = got[0] == want
    fails += not ok
    print(('PASS' if ok else 'FAIL'), label, got)

from oauthlib.oauth1.rfc5849 import SIGNATURE_METHODS
for sm in SIGNATURE_METHODS:
    for st in (oauth1.SIGNATURE_TYPE_AUTH_HEADER, oauth1.SIGNATURE_TYPE_QUERY):
        c = client(sm, st)
        u, h, b = c.sign(f'{BASE}/r/x?b=2&a=1&a=%20z')
        expect(f'{sm} {st} GET', 200, send('GET', u, b, h))
    c = client(sm, oauth1.SIGNATURE_TYPE_BODY)
    u, h, b = c.sign(f'{BASE}/form?q=1', 'POST', 'name=J%C3%B6rg+M&x=1', {'Content-Type': 'application/x-www-form-urlencoded'})
    expect(f'{sm} BODY form POST', 200, send('POST', u, b, h))
# two-legged (no token) goes through SignatureOnlyEndpoint
c = client('HMAC-SHA256', resource_owner_key=None, resource_owner_secret=None)
u, h, b = c.sign(f'{BASE}/two-legged')
expect('two-legged HMAC-SHA256', 200, send('GET', u, b, h))
# JSON POST: oauthlib adds an SHA-1 oauth_body_hash
c = client('HMAC-SHA1')
u, h, b = c.sign(f'{BASE}/json', 'POST', '{"a": 1}', {'Content-Type': 'application/json'})
expect('HMAC-SHA1 JSON POST with body hash', 200, send('POST', u, b, h))
u, h, b = c.sign(f'{BASE}/json', 'POST', '{"a": 1}', {'Content-Type': 'application/json'})
got = send('POST', u, '{"a": 2}', h)
expect('tampered body hash', 401, got if 'oauth_body_hash mismatch' in got[1] else (0, got[1]))
# negatives
c = client('HMAC-SHA1')
u, h, b = c.sign(f'{BASE}/r')
expect('first use', 200, send('GET', u, b, h))
expect('replayed nonce', 401, send('GET', u, b, h))
u, h, b = client('HMAC-SHA1', client_secret='wrong').sign(f'{BASE}/r')
expect('wrong secret', 401, send('GET', u, b, h))
u, h, b = client('HMAC-SHA1', timestamp=str(int(time.time()) - 700)).sign(f'{BASE}/r')
expect('700 s old timestamp', 401, send('GET', u, b, h))
u, h, b = client('HMAC-SHA1').sign(f'{BASE}/r?x=1')
expect('query changed after signing', 401, send('GET', u.replace('x=1', 'x=2'), b, h))
sys.exit(1 if fails else 0)
