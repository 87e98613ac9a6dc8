"""elastic-harness: entry point of every Python worker `eh run` starts (shipped in the package; nothing to install).

    python -u eh_bootstrap.py SCRIPT [ARGS...]   run SCRIPT now, as `python -u SCRIPT ARGS...` would
    python -u eh_bootstrap.py --eh-standby       import $EH_PRELOAD, then wait for a `start` from the agent

It talks to the agent over Node's IPC channel (NODE_CHANNEL_FD, newline-delimited JSON), which it takes
out of the environment before the script runs. A reader thread answers report requests and kills this
process group when the agent is gone (end of file on the channel, or a changed parent). The script runs
as `__main__` (a fresh module, as runpy makes) with sys.argv, sys.path[0], the working directory and exit status of a plain
run; an uncaught exception goes to TORCHELASTIC_ERROR_FILE (torch's layout) before Python prints it.
"""
import json, os, re, select, signal, socket, sys, tempfile, threading, time, traceback, types

_SECRET_NAME = re.compile(r'SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE_KEY|API_KEY|^AWS_ACCESS_KEY_ID$|^ETCDCTL_USER$', re.I)
_lock = threading.Lock()
_chan = None
_ppid = os.getppid()


def _send(msg):
    if _chan is None:
        return
    data = (json.dumps(msg) + '\n').encode()
    try:
        with _lock:
            _chan.sendall(data)
    except OSError:
        pass


def _die():
    # The agent is gone: no worker (nor anything it started in its group) may outlive it.
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def _secrets(env):
    vals = {v for k, v in env.items() if len(v) >= 6 and _SECRET_NAME.search(k)}
    return sorted(vals, key=len, reverse=True)


def _redact(text, secrets):
    for s in secrets:
        text = text.replace(s, '[redacted]')
    return text


def _write_private(path, text):
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    tmp = '%s.%d.tmp' % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _report(path):
    """A hung worker's diagnostic report: every thread's Python stack (faulthandler's and traceback's)."""
    import faulthandler
    with tempfile.TemporaryFile('w+') as f:
        faulthandler.dump_traceback(file=f, all_threads=True)
        f.seek(0)
        fh = f.read()
    names = {t.ident: t.name for t in threading.enumerate()}
    stacks = {}
    for ident, frame in sys._current_frames().items():
        stacks['%s (%d)' % (names.get(ident, '?'), ident)] = traceback.format_stack(frame)
    secrets = _secrets(os.environ)
    env = {k: ('[redacted]' if _SECRET_NAME.search(k) and v else _redact(v, secrets)) for k, v in os.environ.items()}
    report = {
        'header': {'pid': os.getpid(), 'python': sys.version, 'executable': sys.executable, 'argv': sys.argv, 'cwd': os.getcwd(), 'time': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())},
        'pythonStacks': stacks,
        'faulthandler': _redact(fh, secrets),
        'environmentVariables': env,
        'takenBy': 'elastic-harness Python bootstrap (faulthandler, all threads)',
    }
    _write_private(path, json.dumps(report, indent=2))


def _reader(on_start):
    buf = b''
    while True:
        if os.getppid() != _ppid:
            _die()
        try:
            ready, _, _ = select.select([_chan], [], [], 0.25)
        except (OSError, ValueError):
            _die()
        if not ready:
            continue
        try:
            chunk = _chan.recv(65536)
        except OSError:
            chunk = b''
        if not chunk:
            _die()
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if not isinstance(msg, dict):
                continue
            kind = msg.get('eh')
            if kind == 'start':
                on_start(msg)
            elif kind == 'report':
                try:
                    _report(msg['path'])
                    _send({'eh': 'report-written', 'path': msg['path']})
                except Exception as e:  # noqa: BLE001 - the agent gets the reason
                    _send({'eh': 'report-written', 'error': str(e)})


def _open_channel():
    global _chan
    fd = os.environ.pop('NODE_CHANNEL_FD', None)
    os.environ.pop('NODE_CHANNEL_SERIALIZATION_MODE', None)
    if fd is None:
        return
    os.set_inheritable(int(fd), False)
    _chan = socket.socket(fileno=int(fd))


# --- heartbeat: off unless the script calls heartbeat() -----------------------------------------
class _Beat:
    count = 0
    sent = 0
    step = None
    thread = None


def heartbeat(step=None):
    """Count progress (cheap: no I/O). The first call turns hang detection on for this worker: a thread
    then beats every EH_HEARTBEAT_INTERVAL_MS while calls keep coming, and stops when they stop."""
    _Beat.count += 1
    if step is not None:
        _Beat.step = int(step)
    if _Beat.thread is None and _chan is not None:
        interval = float(os.environ.get('EH_HEARTBEAT_INTERVAL_MS', '0') or 0) / 1000
        if interval <= 0:
            return
        _Beat.thread = threading.Thread(target=_beat_loop, args=(interval,), name='eh-heartbeat', daemon=True)
        _Beat.thread.start()


def report_progress(step):
    heartbeat(step)


def under_agent():
    return _chan is not None


def _beat_loop(interval):
    while True:
        if _Beat.count != _Beat.sent:
            _Beat.sent = _Beat.count
            _send({'eh': 'hb'} if _Beat.step is None else {'eh': 'hb', 'step': _Beat.step})
        time.sleep(interval)


def _install_helper():
    m = types.ModuleType('elastic_harness', 'Worker-side helpers of elastic-harness, present under `eh run`.')
    m.heartbeat, m.report_progress, m.under_agent = heartbeat, report_progress, under_agent
    sys.modules['elastic_harness'] = m


# --- running the script -------------------------------------------------------------------------
def _write_error_file(exc):
    path = os.environ.get('TORCHELASTIC_ERROR_FILE')
    if not path or os.path.exists(path):
        return  # torch's @record (or an earlier error) wrote it first: the first error wins
    secrets = _secrets(os.environ)
    name = type(exc).__name__
    message = _redact(str(exc), secrets)
    stack = _redact(''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)), secrets)
    rank = os.environ.get('RANK')
    record = {
        'message': {'message': '%s: %s' % (name, message), 'extraInfo': {'py_callstack': stack, 'timestamp': str(int(time.time()))}},
        'eh': {'message': message, 'name': name, 'stack': stack, 'rank': int(rank) if rank and rank.isdigit() else None,
               'time': time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime()), 'pid': os.getpid()},
    }
    try:
        _write_private(path, json.dumps(record, indent=2))
    except OSError:
        pass


def _trim(tb, script):
    """The traceback from the script's first frame on: ours are not the user's."""
    t = tb
    while t is not None and t.tb_frame.f_code.co_filename != script:
        t = t.tb_next
    return t or tb


def _import_failed_at_top(exc, script):
    """True when the script's own top level failed on an import statement (a start-up error)."""
    if isinstance(exc, SyntaxError):
        return True
    if not isinstance(exc, ImportError):
        return False
    t = exc.__traceback__
    while t is not None:
        code = t.tb_frame.f_code
        if code.co_filename == script and code.co_name == '<module>':
            import linecache
            line = linecache.getline(script, t.tb_lineno).strip()
            return line.startswith('import ') or line.startswith('from ')
        t = t.tb_next
    return False


def _run(script_arg, args):
    path = os.path.abspath(script_arg)
    try:
        with open(path, 'rb') as f:
            source = f.read()
    except OSError as e:
        message = "can't open file %r: [Errno %d] %s" % (path, e.errno, e.strerror)
        _send({'eh': 'startup-error', 'message': message})
        sys.stderr.write('%s: %s\n' % (sys.executable, message))
        sys.exit(2)
    sys.argv = [script_arg] + list(args)
    # As `python SCRIPT`: the script's directory (symlinks resolved) first on sys.path, not ours.
    sys.path[0] = os.path.dirname(os.path.realpath(path))
    try:
        code = compile(source, path, 'exec')
    except (SyntaxError, ValueError) as e:
        _send({'eh': 'startup-error', 'message': '%s: %s' % (type(e).__name__, e), 'stack': ''.join(traceback.format_exception_only(type(e), e))})
        _write_error_file(e)
        traceback.print_exception(type(e), e, None)
        sys.exit(1)
    _send({'eh': 'started'})
    # A fresh __main__, as the interpreter makes for `python SCRIPT` (runpy.run_path would rewrite argv[0]).
    import builtins, importlib.machinery
    main_mod = types.ModuleType('__main__')
    main_mod.__file__ = path
    main_mod.__cached__ = None
    main_mod.__loader__ = importlib.machinery.SourceFileLoader('__main__', path)
    main_mod.__builtins__ = builtins
    sys.modules['__main__'] = main_mod
    try:
        exec(code, main_mod.__dict__)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - reported, then Python's own handling
        e.__traceback__ = _trim(e.__traceback__, path)
        if _import_failed_at_top(e, path):
            _send({'eh': 'startup-error', 'message': '%s: %s' % (type(e).__name__, e), 'stack': ''.join(traceback.format_exception(type(e), e, e.__traceback__))})
        _write_error_file(e)
        if isinstance(e, KeyboardInterrupt):
            raise  # Python then dies of SIGINT, as a plain run does
        sys.excepthook(type(e), e, e.__traceback__)
        sys.exit(1)


def _standby():
    preload = json.loads(os.environ.pop('EH_PRELOAD', '[]'))
    frm = os.environ.pop('EH_PRELOAD_FROM', '')
    if frm:
        sys.path[0] = os.path.dirname(os.path.realpath(frm))
    import importlib
    for mod in preload:
        try:
            importlib.import_module(mod)
        except Exception as e:  # noqa: BLE001 - reported once by the agent, which then starts workers cold
            sys.stderr.write('eh standby: --preload %s failed: %s: %s\n' % (mod, type(e).__name__, e))
            sys.exit(3)
    got = threading.Event()
    start = {}

    def on_start(msg):
        if not got.is_set():
            start.update(msg)
            got.set()

    threading.Thread(target=_reader, args=(on_start,), name='eh-agent-channel', daemon=True).start()
    _send({'eh': 'standby-ready'})
    got.wait()
    env = start.get('env') or {}
    os.environ.clear()
    os.environ.update({str(k): str(v) for k, v in env.items()})
    os.chdir(start.get('cwd') or os.getcwd())
    _run(start['script'], start.get('args') or [])


def main():
    _open_channel()
    _install_helper()
    args = sys.argv[1:]
    if args and args[0] == '--eh-standby':
        _standby()
        return
    if _chan is not None:
        threading.Thread(target=_reader, args=(lambda m: None,), name='eh-agent-channel', daemon=True).start()
    if not args:
        sys.stderr.write('eh worker: no script given\n')
        sys.exit(2)
    _run(args[0], args[1:])


if __name__ == '__main__':
    main()
