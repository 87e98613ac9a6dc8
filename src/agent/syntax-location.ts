/**
 * Where a worker script's SyntaxError is. Node prints FILE:LINE and the offending line with a caret only
 * from its own uncaught-exception handler; a SyntaxError caught from import() has that "arrow" in its
 * stack when CommonJS compiled the file, but not when the ES module loader did (it keeps it in an
 * internal slot). For those, one short child process links the same module graph again and lets the
 * error be uncaught, so that Node prints the arrow: a module that fails to parse fails the link, before
 * any module of the graph is evaluated, and a module that throws first guards the case where the graph
 * links fine, so the child never runs the user's code.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface SyntaxLocation {
  /** A file path (or the URL when it is not a file: URL). */
  file: string;
  line: number;
  column: number;
  /** The source line and the caret line under it, as Node prints them. */
  sourceLine: string;
  caretLine: string;
}

const CHECK_TIMEOUT_MS = 20_000;
const GUARD = 'eh-syntax-check: the module graph linked';

/** Read Node's arrow ("FILE:LINE\nSOURCE\n   ^^^") from the head of a stack or of an uncaught-error printout. */
export function parseArrow(text: string, message?: string): SyntaxLocation | undefined {
  const lines = text.split('\n');
  for (let i = 0; i + 2 < lines.length; i++) {
    const head = /^((?:file:\/\/|\/)\S.*):(\d+)$/.exec(lines[i]);
    const caret = lines[i + 2];
    if (head === null || !/^\s*\^+\s*$/.test(caret)) continue;
    if (message !== undefined && !lines.slice(i + 3, i + 6).some((l) => l === `SyntaxError: ${message}`)) continue;
    let file = head[1];
    if (file.startsWith('file://')) {
      try {
        file = fileURLToPath(file);
      } catch {
        // not a local file URL: keep it as Node printed it
      }
    }
    return { file, line: Number(head[2]), column: caret.indexOf('^') + 1, sourceLine: lines[i + 1], caretLine: caret };
  }
  return undefined;
}

/**
 * Find where `err` (a SyntaxError raised while `script` loaded) is: from its own stack, or else by
 * linking `script`'s graph again in a child started like this process. Undefined when neither tells.
 */
export function locateSyntaxError(err: SyntaxError, script: string): SyntaxLocation | undefined {
  const own = parseArrow(err.stack ?? '');
  if (own !== undefined) return own;
  // Only the module loader's own errors lack the arrow; a SyntaxError the script raised (JSON.parse) has its frames.
  if (!(err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l)).every((l) => l.includes('node:internal/'))) return undefined;
  const entry = `import ${JSON.stringify(`data:text/javascript,${encodeURIComponent(`throw new Error(${JSON.stringify(GUARD)})`)}`)};\nimport ${JSON.stringify(pathToFileURL(script).href)};\n`;
  const env = { ...process.env };
  delete env.NODE_CHANNEL_FD;
  delete env.NODE_CHANNEL_SERIALIZATION_MODE;
  // A debugger port of the worker's own would be taken twice.
  const execArgv = process.execArgv.filter((a) => !/^--inspect/.test(a));
  const res = spawnSync(process.execPath, [...execArgv, '--input-type=module', '--eval', entry], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: CHECK_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  return typeof res.stderr === 'string' ? parseArrow(res.stderr, err.message) : undefined;
}

/** `file:line:column` */
export function formatLocation(loc: SyntaxLocation): string {
  return `${loc.file}:${String(loc.line)}:${String(loc.column)}`;
}

/**
 * The same SyntaxError with its place in the message (`... at FILE:LINE:COL`) and Node's arrow at the
 * head of its stack, or `err` itself when the place cannot be found.
 */
export function withSyntaxLocation(err: SyntaxError, script: string): SyntaxError {
  const loc = locateSyntaxError(err, script);
  if (loc === undefined) return err;
  const located = new SyntaxError(`${err.message} at ${formatLocation(loc)}`, { cause: err });
  const frames = (err.stack ?? '').split('\n').filter((l) => /^\s+at /.test(l));
  located.stack = [formatLocation(loc), loc.sourceLine, loc.caretLine, '', `SyntaxError: ${located.message}`, ...frames].join('\n');
  return located;
}
