"""Proves edgegrid_server.py right: signs with edgegrid-python's EdgeGridAuth, expects 200, then 401s."""
import sys, requests
from akamai.edgegrid import EdgeGridAuth

PORT, CA = int(sys.argv[1]), sys.argv[2]
BASE = f'https://127.0.0.1:{PORT}'
def auth(secret='c2lnbmV0LWludGVyb3AtY2xpZW50LXNlY3JldA==', max_body=131072):
    return EdgeGridAuth(client_token='akab-client-token-signet-interop', client_secret=secret,
                        access_token='akab-access-token-signet-interop', headers_to_sign=['X-Test1', 'X-Test2'], max_body=max_body)
fails = 0
def expect(label, want, r, needle=''):
    global fails
    ok = r.status_code == want and needle in r.text
    fails += not ok
    print('PASS' if ok else 'FAIL', label, r.status_code, r.text.strip())
s = requests.Session(); s.trust_env = False; s.verify = CA
expect('GET', 200, s.get(f'{BASE}/testapi/v1/t1?p1=1&p2=2', auth=auth()))
expect('GET signed headers', 200, s.get(f'{BASE}/h', headers={'X-Test1': 'a   b', 'X-Test2': 't2', 'X-Other': 'x'}, auth=auth()))
expect('POST json', 200, s.post(f'{BASE}/p', json={'key': 'value'}, auth=auth()))
expect('POST over max_body (Python truncates)', 200, s.post(f'{BASE}/big', data=b'd' * 200000, auth=auth()))
expect('PUT', 200, s.put(f'{BASE}/u', data=b'PPPP', auth=auth()))
expect('wrong secret', 401, s.get(f'{BASE}/x', auth=auth(secret='wrong')), 'signature mismatch')
r = requests.Request('POST', f'{BASE}/p', data=b'abc', auth=auth()).prepare(); r.body = b'abd'
expect('body changed after signing', 401, s.send(r), 'signature mismatch')
r = requests.Request('GET', f'{BASE}/n', auth=auth()).prepare()
expect('first use', 200, s.send(r)); expect('replayed nonce', 401, s.send(r), 'nonce already used')
sys.exit(1 if fails else 0)
