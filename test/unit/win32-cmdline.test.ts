// Unit: Windows command-line quoting against a reference implementation of the documented CommandLineToArgvW /
// MSVCRT parse rules, plus cmd.exe escaping for batch files and PATH/PATHEXT resolution.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCommandLine, quoteArg, quoteBatchArg, resolveProgram } from '../../src/sandbox/windows/cmdline';
import { SandboxError } from '../../src/errors';

/**
 * The documented rules (after argv[0]): whitespace outside quotes separates arguments; 2n backslashes + `"` give n
 * backslashes and the `"` is a string delimiter; 2n+1 backslashes + `"` give n backslashes and a literal `"`;
 * backslashes not before a quote are literal; a delimiter inside a quoted string followed by another `"` gives a
 * literal `"` (the pair).
 */
function parseArgs(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (s[i] === ' ' || s[i] === '\t') i++;
    if (i >= s.length) break;
    let arg = '';
    let quoted = false;
    for (; i < s.length; i++) {
      const c = s[i];
      if (!quoted && (c === ' ' || c === '\t')) break;
      if (c === '\\') {
        let n = 0;
        while (s[i] === '\\') {
          n++;
          i++;
        }
        arg += '\\'.repeat(s[i] === '"' ? n >> 1 : n);
        if (s[i] === '"' && n % 2) arg += '"';
        else i--; // not consumed: a quote after an even run is a delimiter, handled below
        continue;
      }
      if (c === '"') {
        if (quoted && s[i + 1] === '"') {
          arg += '"';
          i++;
        } else quoted = !quoted;
        continue;
      }
      arg += c;
    }
    out.push(arg);
  }
  return out;
}

const TRICKY = [
  '',
  ' ',
  'plain',
  'two words',
  'tab\there',
  'quote"inside',
  '"',
  '""',
  '\\',
  '\\\\',
  'trailing\\',
  'trail space\\',
  'a\\\\"b',
  '\\"',
  'C:\\Program Files\\x\\',
  '\\\\server\\share\\',
  '%PATH%',
  '&|<>^()',
  'ünï ✓',
  'new\nline',
  'x"y z"\\',
];

test('reference parser sanity: documented examples', () => {
  assert.deepEqual(parseArgs('"abc" d e'), ['abc', 'd', 'e']);
  assert.deepEqual(parseArgs('a\\\\\\b d"e f"g h'), ['a\\\\\\b', 'de fg', 'h']);
  assert.deepEqual(parseArgs('a\\\\\\"b c d'), ['a\\"b', 'c', 'd']);
  assert.deepEqual(parseArgs('a\\\\\\\\"b c" d e'), ['a\\\\b c', 'd', 'e']);
});

for (const arg of TRICKY) {
  test(`quoteArg round-trips ${JSON.stringify(arg)} through the documented parse`, () => {
    assert.deepEqual(parseArgs(quoteArg(arg)), [arg]);
  });
}

test('all tricky arguments together round-trip as one command line', () => {
  const { commandLine } = buildCommandLine('C:\\tools\\x.exe', TRICKY, 'C:\\Windows\\System32\\cmd.exe');
  assert.deepEqual(parseArgs(commandLine), ['C:\\tools\\x.exe', ...TRICKY]);
});

test('plain arguments are not quoted', () => {
  assert.equal(quoteArg('abc'), 'abc');
  assert.equal(quoteArg('a\\b'), 'a\\b');
});

test('batch files run through cmd.exe /d /e:ON /v:OFF /s /c with metacharacters quoted and % neutralised', () => {
  const r = buildCommandLine('C:\\p\\npm.cmd', ['run', 'a&b', '%PATH%', 'x"y'], 'C:\\Windows\\System32\\cmd.exe');
  assert.equal(r.application, 'C:\\Windows\\System32\\cmd.exe');
  assert.equal(
    r.commandLine,
    'C:\\Windows\\System32\\cmd.exe /d /e:ON /v:OFF /s /c "C:\\p\\npm.cmd run "a&b" "%%cd:~,%PATH%%cd:~,%" "x""y""',
  );
});

test('batch arguments reach a program the batch file forwards %* to intact (after cmd.exe removes its layer)', () => {
  const args = TRICKY.filter((a) => !/[\r\n]/.test(a));
  const { commandLine } = buildCommandLine('C:\\p\\tool.cmd', args, 'C:\\Windows\\System32\\cmd.exe');
  // cmd.exe /s /c strips the outer quotes; inside quotes it only expands %...%, and %cd:~,% expands to nothing.
  const inner = commandLine.slice(commandLine.indexOf('/c "') + 4, -1).replace(/%cd:~,%/g, '');
  assert.deepEqual(parseArgs(inner), ['C:\\p\\tool.cmd', ...args]);
});

test('batch arguments never leave & | < > ^ ( ) % unquoted', () => {
  for (const a of ['&', '|', '<', '>', '^', '(', ')', '%x%', '!x!', 'a b']) {
    const q = quoteBatchArg(a);
    assert.ok(q.startsWith('"') && q.endsWith('"'), `${a} -> ${q}`);
    assert.ok(!/%[^%c]/.test(q.replace(/%%cd:~,%/g, '')), `no bare % in ${q}`);
  }
});

test('batch arguments with line breaks or NUL are refused with a SandboxError', () => {
  for (const a of ['a\nb', 'a\rb', 'a\0b']) assert.throws(() => quoteBatchArg(a), SandboxError);
});

test('resolveProgram searches cwd then PATH with PATHEXT, like cmd.exe', () => {
  const files = new Set(['c:\\bin\\npm.cmd', 'c:\\win\\cmd.exe', 'c:\\ws\\tool.bat', 'c:\\ws\\sub\\x.exe']);
  const exists = (p: string) => files.has(p.toLowerCase());
  const env = { PATH: 'C:\\bin;"C:\\win"', PATHEXT: '.COM;.EXE;.BAT;.CMD' };
  assert.equal(resolveProgram('npm', 'C:\\ws', env, exists)?.toLowerCase(), 'c:\\bin\\npm.cmd');
  assert.equal(resolveProgram('cmd', 'C:\\ws', env, exists)?.toLowerCase(), 'c:\\win\\cmd.exe');
  assert.equal(resolveProgram('tool', 'C:\\ws', env, exists)?.toLowerCase(), 'c:\\ws\\tool.bat');
  assert.equal(resolveProgram('sub\\x', 'C:\\ws', env, exists)?.toLowerCase(), 'c:\\ws\\sub\\x.exe');
  assert.equal(resolveProgram('missing', 'C:\\ws', env, exists), undefined);
});

test('resolveProgram skips Store app execution aliases (WindowsApps): a real install later on PATH wins, else not found', () => {
  const env = { PATH: 'C:\\Users\\me\\AppData\\Local\\Microsoft\\WindowsApps;C:\\Python312', PATHEXT: '.EXE' };
  const both = new Set([
    'c:\\users\\me\\appdata\\local\\microsoft\\windowsapps\\python.exe',
    'c:\\python312\\python.exe',
  ]);
  assert.equal(
    resolveProgram('python', 'C:\\ws', env, (p) => both.has(p.toLowerCase()))?.toLowerCase(),
    'c:\\python312\\python.exe',
  );
  const aliasOnly = new Set(['c:\\users\\me\\appdata\\local\\microsoft\\windowsapps\\python.exe']);
  assert.equal(
    resolveProgram('python', 'C:\\ws', env, (p) => aliasOnly.has(p.toLowerCase())),
    undefined,
  );
});
