// Pipelines-as-Code's globs (on-target-branch, on-path-change, `"…".pathChanged()`), matched in linear time.
//
// The patterns come from `.tekton` files and the paths and branch names from whoever pushes, so a backtracking
// matcher is a denial of service: picomatch turned `*a*a*a*a*a*b` into a regular expression that took 81 s against
// 200 characters. Here a glob is translated into an RE2 pattern and run by re2js, whose time is linear in the input.
//
// The flavour is the one Baton had with picomatch (bash mode, dotfiles included), which PAC users rely on:
// - `*` and `**` match any run of characters, `/` included (`docs/*.md` matches `docs/guide/intro.md`);
// - `**/` also matches nothing (`**/*.go` matches `main.go`, `a/**/b` matches `a/b`), and a trailing `/**` also
//   matches the folder itself;
// - `?` matches one character other than `/`; `[abc]`, `[a-z]` and POSIX classes as usual; `[!a]` and `[^a]` match
//   one character that is neither listed nor `/`;
// - `{a,b}` is either alternative (nested, with globs inside); `{a}` without a comma is literal text;
// - `\` makes the next character literal; everything else, parentheses and `|` included, is literal text.
// Deliberately not kept from picomatch: its regex pass-through of `(a|b)`, numeric ranges like `{1..3}` (both are
// literal text, as in PAC's gobwas/glob), and its reading of `[!a]` as "`!` or `a`".
import { RE2JS } from "re2js";

/** Longest glob accepted; a longer one matches nothing. */
export const maxGlobLength = 1024;

function quote(char: string): string {
  return /[A-Za-z0-9/_-]/.test(char) ? char : `\\x{${(char.codePointAt(0) ?? 0).toString(16)}}`;
}

/** The end of the bracket expression opening at `start`, or -1 when it is not closed (then `[` is literal). */
function classEnd(glob: string, start: number): number {
  let i = start + 1;
  if (glob[i] === "!" || glob[i] === "^") i++;
  if (glob[i] === "]") i++;
  for (; i < glob.length; i++) {
    if (glob[i] === "\\") i++;
    else if (glob[i] === "[" && glob[i + 1] === ":") {
      const close = glob.indexOf(":]", i + 2);
      if (close !== -1) i = close + 1;
    } else if (glob[i] === "]") return i;
  }
  return -1;
}

function translateClass(body: string): string {
  let negated = false;
  let i = 0;
  if (body[0] === "!" || body[0] === "^") {
    negated = true;
    i = 1;
  }
  let out = "";
  for (; i < body.length; i++) {
    const c = body[i] as string;
    if (c === "\\" && i + 1 < body.length) {
      out += quote(body[++i] as string);
    } else if (c === "[" && body[i + 1] === ":" && body.indexOf(":]", i + 2) !== -1) {
      const close = body.indexOf(":]", i + 2);
      out += body.slice(i, close + 2);
      i = close + 1;
    } else if (c === "-" && out !== "" && i + 1 < body.length) {
      out += "-";
    } else {
      out += quote(c);
    }
  }
  return negated ? `[^${out}/]` : `[${out}]`;
}

/** The `}` closing the brace group opening at `start` and whether it has a top-level comma; -1 when unclosed. */
function braceEnd(glob: string, start: number): { end: number; alternatives: boolean } {
  let depth = 0;
  let alternatives = false;
  for (let i = start; i < glob.length; i++) {
    const c = glob[i];
    if (c === "\\") i++;
    else if (c === "[") {
      const end = classEnd(glob, i);
      if (end !== -1) i = end;
    } else if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) return { end: i, alternatives };
    } else if (c === "," && depth === 1) alternatives = true;
  }
  return { end: -1, alternatives: false };
}

/** Splits a brace group's body at its top-level commas. */
function alternativesOf(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "\\") i++;
    else if (c === "[") {
      const end = classEnd(body, i);
      if (end !== -1) i = end;
    } else if (c === "{") depth++;
    else if (c === "}") depth--;
    else if (c === "," && depth === 0) {
      parts.push(body.slice(from, i));
      from = i + 1;
    }
  }
  parts.push(body.slice(from));
  return parts;
}

function translate(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*") {
      let j = i;
      while (glob[j + 1] === "*") j++;
      const globstar = j === i + 1;
      const atSegmentStart = i === 0 || glob[i - 1] === "/";
      if (globstar && atSegmentStart && glob[j + 1] === "/" && out.endsWith("/")) {
        // `/**/`: one slash or folders between, or (picomatch's reading) the end of the path.
        out = `${out.slice(0, -1)}(?:/(?:.*/)?|$)`;
        i = j + 1;
      } else if (globstar && atSegmentStart && glob[j + 1] === "/") {
        // A leading `**/`: any number of leading folders, none included.
        out += "(?:.*/)?";
        i = j + 1;
      } else if (globstar && atSegmentStart && j + 1 === glob.length && out.endsWith("/") && !out.endsWith(".*/")) {
        // A trailing `/**`: the folder itself or anything under it.
        out = `${out.slice(0, -1)}(?:/.*)?`;
        i = j;
      } else {
        out += ".*";
        i = j;
      }
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "\\") {
      if (i + 1 < glob.length) out += quote(glob[++i] as string);
      else out += quote(c);
    } else if (c === "[") {
      const end = classEnd(glob, i);
      if (end === -1) out += quote(c);
      else {
        out += translateClass(glob.slice(i + 1, end));
        i = end;
      }
    } else if (c === "{") {
      const { end, alternatives } = braceEnd(glob, i);
      if (end === -1 || !alternatives) out += quote(c);
      else {
        out += `(?:${alternativesOf(glob.slice(i + 1, end))
          .map(translate)
          .join("|")})`;
        i = end;
      }
    } else {
      out += quote(c);
    }
  }
  return out;
}

/** The RE2 pattern (anchored at both ends) a glob stands for. */
export function globToRE2(glob: string): string {
  // As picomatch: a leading `./` names the same paths as none, and `**/**` is `**`.
  let stripped = glob;
  while (stripped.startsWith("./")) stripped = stripped.slice(2);
  const normalized = stripped.replace(/(^|\/)\*\*(?:\/\*\*)+(?=\/|$)/g, "$1**");
  return `^(?s:${translate(normalized)})$`;
}

/** Compiled globs by pattern: compiling costs far more than matching, and the same few patterns come every event. */
const compiled = new Map<string, RE2JS | null>();
const maxCompiled = 1024;

function compile(pattern: string): RE2JS | null {
  let re = compiled.get(pattern);
  if (re === undefined) {
    try {
      re = pattern.length <= maxGlobLength ? RE2JS.compile(globToRE2(pattern)) : null;
    } catch {
      re = null;
    }
    if (compiled.size >= maxCompiled) compiled.delete(compiled.keys().next().value as string);
    compiled.set(pattern, re);
  }
  return re;
}

/** A linear-time matcher for one glob; a pattern that is too long or not valid matches only itself. */
export function globMatcher(pattern: string): (path: string) => boolean {
  // Most patterns (`main`, `refs/heads/main`) are plain names: equality says the same without a regex.
  if (!/[*?[{\\]/.test(pattern) && !pattern.startsWith("./")) return (path) => path === pattern;
  const re = compile(pattern);
  return (path) => path === pattern || (re?.testExact(path) ?? false);
}
