import assert from "node:assert/strict";
import { describe, it } from "node:test";
import picomatch from "picomatch";
import { globMatcher, globToRE2 } from "./glob.ts";

describe("globMatcher", () => {
  // PAC's documented uses first (branches, tags, paths), then the corners of the flavour.
  const cases: [pattern: string, path: string, matches: boolean][] = [
    ["main", "main", true],
    ["refs/heads/main", "refs/heads/main", true],
    ["refs/heads/release-*", "refs/heads/release-1.4", true],
    ["refs/heads/release-*", "refs/heads/main", false],
    ["refs/tags/*", "refs/tags/v1.2.0", true],
    ["refs/tags/1.*", "refs/tags/1.2", true],
    ["refs/tags/1.*", "refs/tags/2.1", false],
    ["docs/**", "docs/guide/intro.md", true],
    ["docs/**", "docs", true],
    ["docs/**", "documentation/a.md", false],
    ["docs/*.md", "docs/guide/intro.md", true],
    ["docs/*", "docs", false],
    ["**/*.go", "main.go", true],
    ["**/*.go", "cmd/baton/main.go", true],
    ["a/**/b", "a/b", true],
    ["a/**/b", "a/x/y/b", true],
    [".tekton/**", ".tekton/pr.yaml", true],
    ["*.md", ".github/README.md", true],
    ["{pkg,cli}/*", "cli/main.go", true],
    ["{pkg,cli}/*", "api/main.go", false],
    ["{a,b{c,d}}", "bd", true],
    ["{a}", "{a}", true],
    ["file?.txt", "file1.txt", true],
    ["file?.txt", "file/.txt", false],
    ["[a-c]x", "bx", true],
    ["[a-c]x", "dx", false],
    ["[!a]x", "bx", true],
    ["[!a]x", "ax", false],
    ["[^a]x", "/x", false],
    ["[[:digit:]]*", "7.txt", true],
    ["\\*", "*", true],
    ["\\*", "x", false],
    ["(a|b)", "(a|b)", true],
    ["(a|b)", "a", false],
    ["{1..3}", "2", false],
    ["a+b", "a+b", true],
    ["a.b", "axb", false],
    ["[unclosed", "[unclosed", true],
    ["./docs/*", "docs/a.md", true],
    ["naïve/*", "naïve/é.txt", true],
  ];
  for (const [pattern, path, expected] of cases) {
    it(`${pattern} ${expected ? "matches" : "does not match"} ${path}`, () => {
      assert.equal(globMatcher(pattern)(path), expected, globToRE2(pattern));
    });
  }

  it("agrees with picomatch (bash mode, dotfiles), which Baton used before, on generated patterns and paths", () => {
    // Everything but the deliberate differences (picomatch's `[!a]`, regex groups and ranges): see glob.ts.
    let seed = 12;
    const random = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const atoms = ["a", "b", ".", "-", "*", "?", "[ab]", "[a-b]", "[^a]", "{a,b}", "{a,b/c}", "{,a}", "\\*", "[.]"];
    const segments = ["a", "b", "ab", ".a", "a.b", "ba", "c", "-", "*"];
    const picomatchOptions = { bash: true, dot: true, noextglob: true, nonegate: true };
    const disagreements: string[] = [];
    for (let k = 0; k < 20_000; k++) {
      const parts: string[] = [];
      for (let i = 0, n = 1 + random(4); i < n; i++) {
        if (random(5) === 0) {
          parts.push("**");
          continue;
        }
        let segment = "";
        for (let j = 0, m = 1 + random(3); j < m; j++) {
          const atom = atoms[random(atoms.length)] as string;
          if (!(atom === "*" && segment.endsWith("*"))) segment += atom;
        }
        parts.push(segment);
      }
      const pattern = (random(8) === 0 ? "./" : "") + parts.join("/");
      const path = Array.from({ length: 1 + random(4) }, () => segments[random(segments.length)]).join("/");
      const expected = path === pattern || picomatch(pattern, picomatchOptions)(path);
      if (globMatcher(pattern)(path) !== expected) disagreements.push(`${pattern} ${path}: picomatch says ${expected}`);
    }
    assert.deepEqual(disagreements, []);
  });

  it("treats a pattern longer than the limit as a plain name", () => {
    const long = `${"a".repeat(2000)}*`;
    assert.equal(globMatcher(long)(`${"a".repeat(2000)}b`), false);
    assert.equal(globMatcher(long)(long), true);
  });
});
