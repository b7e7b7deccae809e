/**
 * A reader for the few git config keys the planner must follow (`core.hooksPath`, `include.path`,
 * `includeIf.<cond>.path`). Pure: it parses text handed to it. Not a library (parse-git-config) because that one
 * reads the disk itself, outside the planner's `FsView`, and keeps one value per key while git honours every
 * `include.path`. Must never decide a condition of `includeIf`: every conditional include is followed (protecting
 * too much is safe, too little is not).
 */

export interface GitConfigEntry {
  /** `section.key` or `section.subsection.key`; section and key lower-cased as git compares them. */
  name: string;
  value: string;
}

/** Every `name = value` in a config file, in order (duplicates kept). Malformed lines are skipped. */
export function parseGitConfig(text: string): GitConfigEntry[] {
  const out: GitConfigEntry[] = [];
  let section = '';
  const lines = text.replace(/\\\r?\n/g, '').split(/\r?\n/);
  for (const raw of lines) {
    let line = raw.trim();
    const header = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/.exec(line);
    if (header) {
      const [name, ...dotted] = header[1].split('.');
      const sub = header[2] !== undefined ? header[2].replace(/\\(.)/g, '$1') : dotted.join('.').toLowerCase();
      section = name.toLowerCase() + (sub ? `.${sub}` : '');
      line = line.slice(header[0].length).trim();
      if (!line) continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*(?:=\s*(.*))?$/.exec(line);
    if (!kv || !section) continue;
    out.push({ name: `${section}.${kv[1].toLowerCase()}`, value: kv[2] === undefined ? 'true' : unquote(kv[2]) });
  }
  return out;
}

/** A value with its comments stripped, quotes removed and `\"`, `\\`, `\t`, `\n` decoded. */
function unquote(v: string): string {
  let out = '';
  let quoted = false;
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '"') quoted = !quoted;
    else if (c === '\\' && i + 1 < v.length) {
      const n = v[++i];
      out += n === 't' ? '\t' : n === 'n' ? '\n' : n;
    } else if ((c === '#' || c === ';') && !quoted) break;
    else out += c;
  }
  return out.trim();
}

/** True for the keys naming another config file git reads: `include.path` and `includeIf.<cond>.path`. */
export function isIncludePath(name: string): boolean {
  return name === 'include.path' || (name.startsWith('includeif.') && name.endsWith('.path'));
}
