# npm 11 left the off-platform optional packages of chdb and rollup out of the lock
# (npm/cli#9342), and `npm ci` then refuses the lock. This registry serves none of
# them, so their records are written from what is known: the exact version pinned
# by the parent and the platform their name encodes. npm skips them on os/cpu.
# Usage, after any `npm install` that rewrote the lock: python3 scripts/fix-lockfile-optional.py
import json, subprocess
dry = subprocess.run(['npm', 'ci', '--ignore-scripts', '--dry-run'], capture_output=True, text=True)
missing = [l.split('Missing: ', 1)[1].replace(' from lock file', '').strip() for l in dry.stderr.splitlines() if 'Missing: ' in l]
if not missing:
    print('lock is complete: npm ci accepts it')
    raise SystemExit(0)
lock = json.load(open('package-lock.json'))
pk = lock['packages']
OS = {'darwin', 'linux', 'win32', 'android', 'freebsd', 'openbsd', 'openharmony'}
for m in missing:
    name = m[:m.rindex('@')]
    parent = 'node_modules/chdb' if name.startswith('@chdb/') else 'node_modules/rollup'
    version = pk[parent]['optionalDependencies'][name]
    tokens = name.split('/')[1].split('-')
    tokens = [t for t in tokens if t not in ('lib', 'rollup')]
    os_ = tokens[0]; assert os_ in OS, name
    rest = tokens[1:]
    cpu = rest[0]
    libc = None
    if 'gnu' in rest or 'gnueabihf' in rest: libc = 'glibc'
    if 'musl' in rest or 'musleabihf' in rest: libc = 'musl'
    entry = {'version': version, 'cpu': [cpu]}
    if pk[parent].get('dev'): entry['dev'] = True
    if libc and os_ == 'linux': entry['libc'] = [libc]
    entry['optional'] = True
    entry['os'] = [os_]
    key = f'node_modules/{name}'
    assert key not in pk, key
    pk[key] = entry
    print('added', key, version)

json.dump(lock, open('package-lock.json', 'w'), indent=2)
open('package-lock.json', 'a').write('\n')
