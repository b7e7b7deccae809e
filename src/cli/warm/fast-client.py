#!/bin/sh
# agent-sandbox: the CLI's launcher on Linux (POSIX sh, then Python 3's standard library). `dist/agent-sandbox`.
''':'
# Python only when a broker could serve the call: a `run`, brokers allowed, one of this user's broker records present.
warm=
if [ "${1:-}" = run ] && [ "${AGENT_SANDBOX_BROKER:-}" != 0 ]; then
  for f in "/tmp/agent-sandbox-$(id -u)"/*.json; do [ -e "$f" ] && warm=1 && break; done
  for a in "$@"; do
    case $a in --) break ;; --no-broker) warm= ;; esac
  done
fi
if [ -n "$warm" ]; then
  # Python's locale coercion (PEP 538; -I cannot turn it off) sets LC_CTYPE in its own environment, which the
  # command would inherit: what the caller had is recorded here and put back first thing (restore_locale below).
  if [ -n "${LC_CTYPE+x}" ]; then AGENT_SANDBOX_CALLER_LC_CTYPE="=$LC_CTYPE"; else AGENT_SANDBOX_CALLER_LC_CTYPE=-; fi
  export AGENT_SANDBOX_CALLER_LC_CTYPE
fi
if [ -n "$warm" ] && [ -x /usr/bin/python3 ]; then exec /usr/bin/python3 -I -S "$0" "$@"; fi
if [ -n "$warm" ] && command -v python3 >/dev/null 2>&1; then exec python3 -I -S "$0" "$@"; fi
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  export AGENT_SANDBOX_CALLER_NODE_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS" NODE_EXTRA_CA_CERTS=
fi
exec node "$(dirname "$(readlink -f "$0")")/cli.js" "$@"
'''
# The fast client of the warm broker (src/cli/warm/): a `run` that this user's live broker for the call's inputs
# accepts is served without starting Node at all. It does what the Node client (client.ts) does on the warm path,
# except that it passes its own stdin, stdout, stderr to the broker (SCM_RIGHTS) instead of relaying them: the
# command runs directly on the caller's descriptors (a file stays that file, a terminal stays a terminal).
#
# - The key is computed as `inputKey` in src/protocol/warm.ts computes it (change both together).
# - The broker folder must be a folder of this user's, mode 0700 or stricter; the socket a socket of this user's
#   (only this user can create one in that folder). The broker checks this client's uid (SO_PEERCRED), the folder,
#   the key and the plan hash before it asks for the descriptors.
# - Anything short of the broker accepting the command (no broker, a stale socket, a refusal, an option this
#   parser does not know) runs `node dist/cli.js` with the same arguments: the call runs cold, as it always did,
#   and leaves a broker behind. Once accepted: the command's own code, 124 on timeout, 128+N for signal N; SIGINT,
#   SIGTERM, SIGHUP cancel the command (and its tree); a broker that ends first gives 125, never a hang.
# Imports stay minimal (each costs start-up time): os, sys, _socket, _signal and a SHA-256.
import os
import sys

PROTOCOL = 3  # WARM_PROTOCOL
PLAN_ENV = [
    b'HOME', b'TMPDIR', b'XDG_RUNTIME_DIR', b'SSH_AUTH_SOCK', b'XDG_STATE_HOME', b'XDG_CONFIG_HOME',
    b'GIT_CONFIG_GLOBAL', b'AGENT_SANDBOX_STATE_DIR', b'AGENT_SANDBOX_BWRAP', b'AGENT_SANDBOX_BROKER_IDLE',
    b'USERPROFILE', b'LOCALAPPDATA', b'APPDATA',
]
POLICY_VALUE_FLAGS = ('--workspace', '--write', '--network', '--protect', '--policy-file')
SANDBOX_FAILED = 125
HERE = os.path.dirname(os.path.realpath(__file__))
ARGV = sys.argv[1:]
ENV = os.environb


def restore_locale():
    """Undoes Python's locale coercion: LC_CTYPE as the caller had it (the sh preamble recorded it)."""
    saved = ENV.pop(b'AGENT_SANDBOX_CALLER_LC_CTYPE', None)
    if saved == b'-':
        ENV.pop(b'LC_CTYPE', None)
    elif saved is not None and saved.startswith(b'='):
        ENV[b'LC_CTYPE'] = saved[1:]


restore_locale()


def cold():
    """Runs the call through the Node CLI (cold, or its own warm client), replacing this process.

    The CLI makes no TLS connection of its own, so its Node need not parse NODE_EXTRA_CA_CERTS at start-up (tens of
    ms per run where it is set): the value is moved aside and the launcher (src/cli/launcher.ts,
    restoreCallerEnv) puts it back before anything reads the environment, so the command still gets it.
    """
    env = os.environb.copy()
    if env.get(b'NODE_EXTRA_CA_CERTS'):
        env[b'AGENT_SANDBOX_CALLER_NODE_EXTRA_CA_CERTS'] = env[b'NODE_EXTRA_CA_CERTS']
        env[b'NODE_EXTRA_CA_CERTS'] = b''
    try:
        os.execvpe('node', ['node', os.path.join(HERE, 'cli.js')] + ARGV, env)
    except OSError as e:
        os.write(2, b'agent-sandbox: cannot start node (%s); install Node.js 20 or later.\n' % str(e).encode())
        os._exit(127)


def report(what):
    if ENV.get(b'AGENT_SANDBOX_BROKER') == b'report':
        os.write(2, b'agent-sandbox: broker: ' + what.encode('utf-8', 'surrogateescape') + b'\n')


def warm_call():
    """(policyArgs, timeoutMs, command) as warmCall parses them, or None when the call must go cold."""
    if sys.platform != 'linux' or len(ARGV) < 3 or ARGV[0] != 'run' or ENV.get(b'AGENT_SANDBOX_BROKER') == b'0':
        return None
    if '--' not in ARGV:
        return None
    dash = ARGV.index('--')
    if dash == len(ARGV) - 1:
        return None
    policy, timeout = [], None
    i = 1
    while i < dash:
        a = ARGV[i]
        eq = a.find('=')
        flag, inline = (a[:eq], a[eq + 1:]) if a.startswith('--') and eq > 0 else (a, None)
        if inline is None and flag in ('--read-only', '--strict'):
            policy.append(flag)
        else:
            if inline is not None:
                value = inline
            elif i + 1 < dash:
                i += 1
                value = ARGV[i]
            else:
                value = None
            if flag == '--platform':
                if value != 'linux':
                    return None
            elif flag == '--timeout':
                try:
                    n = float(value) if value is not None and '_' not in value else 0.0
                except ValueError:
                    return None
                if not (0 < n < float('inf')):
                    return None
                timeout = n * 1000
            elif flag in POLICY_VALUE_FLAGS and value is not None:
                policy += [flag, value]
            else:
                return None
        i += 1
    return policy, timeout, ARGV[dash + 1:]


def sha256_hex(data):
    try:
        from _sha256 import sha256
    except ImportError:
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()


def input_key(policy, cwd):
    def stamp(p):
        try:
            st = os.stat(os.path.normpath(os.path.join(cwd, os.fsencode(p))))
        except OSError:
            return b'missing'
        return b'%d:%d:%d:%d' % (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    paths = [a for i, a in enumerate(policy) if i > 0 and policy[i - 1] in ('--workspace', '--write', '--policy-file')]
    cwd_free = '--workspace' in policy and '--policy-file' not in policy and all(p.startswith('/') for p in paths)
    has_file = '--policy-file' in policy
    fields = [
        b'v%d' % PROTOCOL,
        b'%d' % os.getuid(),
        stamp(os.path.join(HERE, 'cli-main.js')),
        b'-' if cwd_free else b'=' + cwd,
        stamp(policy[policy.index('--policy-file') + 1]) if has_file else b'-',
    ]
    fields += [b'-' if ENV.get(k) is None else b'=' + ENV[k] for k in PLAN_ENV]
    fields += [b'%d' % len(policy)] + [os.fsencode(a) for a in policy]
    return sha256_hex(b'\0'.join(fields))[:32]


def js(b):
    """A JSON string of the bytes `b` (UTF-8 text as the broker decodes it)."""
    if isinstance(b, str):
        b = os.fsencode(b)
    b = b.replace(b'\\', b'\\\\').replace(b'"', b'\\"')
    if any(c < 32 for c in b):
        b = b''.join(b'\\u%04x' % c if c < 32 else bytes((c,)) for c in b)
    return b'"' + b + b'"'


def frame(kind, payload=b''):
    return kind + len(payload).to_bytes(4, 'big') + payload


STATE = {'accepted': False, 'cancel': 0}


def cold_unless_cancelled():
    """Before acceptance: a caller that asked to cancel meanwhile gets its signal's code, not a cold run."""
    if STATE['cancel']:
        os._exit(128 + STATE['cancel'])
    return cold()


def main():
    call = warm_call()
    if call is None:
        return cold()
    policy, timeout, command = call
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return cold()  # a closed stdio descriptor: the cold path decides what that means
    uid = os.getuid()
    folder = b'/tmp/agent-sandbox-%d' % uid
    try:
        st = os.lstat(folder)
    except OSError:
        return cold()
    if (st.st_mode & 0o170000) != 0o040000 or st.st_uid != uid or st.st_mode & 0o077:
        report('%s is not a folder only this user can open; running cold' % folder.decode())
        return cold()
    cwd = os.getcwdb()
    key = input_key(policy, cwd)
    info_file = folder + b'/' + key.encode() + b'.json'
    sock_file = folder + b'/' + key.encode() + b'.sock'
    try:
        with open(info_file, 'rb') as f:
            info = f.read()
        at = info.index(b'"planHash":"') + 12
        plan_hash = info[at:info.index(b'"', at)]
    except (OSError, ValueError):
        return cold()  # no broker for these inputs
    try:
        st = os.lstat(sock_file)
    except OSError as e:
        report('%s; running cold' % e)
        return cold()
    if (st.st_mode & 0o170000) != 0o140000 or st.st_uid != uid:
        report('%s is not a socket of this user; running cold' % sock_file.decode())
        return cold()
    import _socket
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        conn.connect(sock_file)
    except OSError as e:
        if isinstance(e, ConnectionRefusedError):  # stale: its broker is gone (files removed as the Node client does)
            for f in (sock_file, info_file):
                try:
                    os.unlink(f)
                except OSError:
                    pass
        report('not reachable (%s); running cold' % e)
        conn.close()
        return cold()
    env = b','.join(js(k) + b':' + js(v) for k, v in ENV.items())
    hello = b'{"v":%d,"key":"%s","planHash":%s,"policyArgs":[%s],"cwd":%s,"env":{%s},"argv":[%s],%s"fds":true}' % (
        PROTOCOL,
        key.encode(),
        js(plan_hash),
        b','.join(js(a) for a in policy),
        js(cwd),
        env,
        b','.join(js(a) for a in command),
        b'' if timeout is None else b'"timeoutMs":%s,' % num(timeout).encode(),
    )
    state = STATE

    import _signal

    def on_signal(signum, _frame):
        state['cancel'] = state['cancel'] or signum
        if state['accepted']:
            try:
                conn.sendall(frame(b'K'))
            except OSError:
                pass

    for s in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
        _signal.signal(s, on_signal)
    buf = b''
    sent_fds = False
    try:
        conn.sendall(frame(b'H', hello))
        while True:
            while len(buf) >= 5 and len(buf) >= 5 + int.from_bytes(buf[1:5], 'big'):
                kind, payload = buf[:1], buf[5:5 + int.from_bytes(buf[1:5], 'big')]
                buf = buf[5 + len(payload):]
                if not state['accepted']:
                    if kind == b'F' and not sent_fds:
                        if state['cancel']:
                            os._exit(128 + state['cancel'])  # nothing started yet
                        fds = b''.join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2))
                        conn.sendmsg([b'F'], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)])
                        sent_fds = True
                    elif kind == b'A' and sent_fds:
                        state['accepted'] = True
                        if state['cancel']:
                            conn.sendall(frame(b'K'))
                    else:
                        report('refused (%s)' % payload.decode('utf-8', 'replace'))
                        conn.close()
                        return cold_unless_cancelled()
                elif kind == b'X':
                    os.write(2, payload)
                elif kind == b'O':
                    os.write(1, payload)
                elif kind == b'Z':
                    return exited(payload, timeout)
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError as e:
        if not state['accepted']:
            report('not reachable (%s); running cold' % e)
            conn.close()
            return cold_unless_cancelled()
    if not state['accepted']:
        report('closed without an answer; running cold')
        return cold_unless_cancelled()
    os.write(2, b'agent-sandbox: the sandbox broker ended before the command did; its sandbox is gone with it.\n')
    os._exit(SANDBOX_FAILED)


def num(x):
    """A number as JavaScript prints it (for the values this client sends and reports)."""
    return str(int(x)) if x == int(x) else repr(x)


def exited(payload, timeout):
    at = payload.find(b'"code":')
    code = SANDBOX_FAILED
    if at >= 0:
        end = at + 7
        while end < len(payload) and payload[end:end + 1].isdigit():
            end += 1
        code = int(payload[at + 7:end] or SANDBOX_FAILED)
    if b'"timedOut":true' in payload:
        secs = num((timeout or 0) / 1000).encode()
        os.write(2, b'agent-sandbox: timed out after ' + secs + b's; the command was killed.\n')
    if b'"untrusted":' in payload:  # rare: only then is a JSON parser worth loading
        import json
        untrusted = json.loads(payload.decode('utf-8', 'replace')).get('untrusted')
        if untrusted:
            os.write(2, b'agent-sandbox: warning: ' + untrusted.encode('utf-8', 'replace') + b'\n')
    os._exit(code)


if __name__ == '__main__':  # (imported only by the unit test that compares its broker key with Node's)
    try:
        main()
    except Exception as e:  # anything unforeseen (a deleted cwd, an odd argument): cold, unless the broker took the call
        if STATE['accepted']:
            os.write(2, b'agent-sandbox: the fast client failed (%s); the sandbox broker stops the command.\n' % repr(e).encode())
            os._exit(SANDBOX_FAILED)
        report('failed (%r); running cold' % e)
        cold_unless_cancelled()
